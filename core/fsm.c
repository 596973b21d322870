/* placeholder */
typedef int uffdbox__fsm_placeholder;
