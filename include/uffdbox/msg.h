/* SPDX-License-Identifier: MIT */
/* placeholder: replaced by the msg parser */
#ifndef UFFDBOX_MSG_H
#define UFFDBOX_MSG_H
#endif
