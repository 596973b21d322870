/* SPDX-License-Identifier: MIT */
/* placeholder: replaced by the state machine */
#ifndef UFFDBOX_FSM_H
#define UFFDBOX_FSM_H
#endif
