/* placeholder */
typedef int uffdbox__msg_placeholder;
