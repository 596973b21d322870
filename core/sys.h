/* SPDX-License-Identifier: MIT */
/*
 * core/sys.h - the raw system calls of the kernel layer, as private inline
 * wrappers returning >= 0 or -errno.
 *
 * Each wrapper leaves errno as it found it: the sync transport calls the
 * resolving ioctls from a SIGBUS handler, where clobbering the interrupted
 * code's errno would be a bug in someone else's program.
 */
#ifndef UFFDBOX_CORE_SYS_H
#define UFFDBOX_CORE_SYS_H

#include <errno.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

static inline long sys_ret(long rc, int saved_errno)
{
	if (rc < 0)
		rc = -errno;
	errno = saved_errno;
	return rc;
}

static inline int sys_ioctl(int fd, unsigned long req, void *arg)
{
	int saved = errno;
	return (int)sys_ret(ioctl(fd, req, arg), saved);
}

static inline int sys_userfaultfd(int flags)
{
	int saved = errno;
#ifdef SYS_userfaultfd
	return (int)sys_ret(syscall(SYS_userfaultfd, flags), saved);
#else
	(void)flags;
	errno = saved;
	return -ENOSYS;
#endif
}

static inline int sys_open(const char *path, int flags)
{
	int saved = errno;
	return (int)sys_ret(open(path, flags), saved);
}

static inline ssize_t sys_read(int fd, void *buf, size_t len)
{
	int saved = errno;
	return (ssize_t)sys_ret(read(fd, buf, len), saved);
}

static inline void sys_close(int fd)
{
	int saved = errno;
	if (fd >= 0)
		close(fd);
	errno = saved;
}

#endif /* UFFDBOX_CORE_SYS_H */
