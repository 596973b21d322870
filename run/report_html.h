/* SPDX-License-Identifier: MIT */
/*
 * run/report_html.h - the page `uffdbox report` writes: run/report.html,
 * embedded at build time (run/embed.cmake) as one NUL-terminated string.
 * The data goes where the marker is.
 */
#ifndef UFFDBOX_RUN_REPORT_HTML_H
#define UFFDBOX_RUN_REPORT_HTML_H

#define UFFDBOX_REPORT_MARKER "/*UFFDBOX_DATA*/"

extern const char uffdbox__report_html[];

#endif /* UFFDBOX_RUN_REPORT_HTML_H */
