/* SPDX-License-Identifier: MIT */
/* uffdbox.h - the umbrella header: everything public in uffdbox. */
#ifndef UFFDBOX_H
#define UFFDBOX_H

#include "uffdbox/common.h"
#include "uffdbox/compat.h"
#include "uffdbox/uffd.h"
#include "uffdbox/region.h"
#include "uffdbox/msg.h"
#include "uffdbox/fsm.h"
#include "uffdbox/sandbox.h"
#include "uffdbox/snapshot.h"
#include "uffdbox/persist.h"
#include "uffdbox/fuzz.h"

#endif /* UFFDBOX_H */
