/* sched_shell.h: `barge scheduler`, the Kafka shell around the core. */
#ifndef BARGE_SCHED_SHELL_H
#define BARGE_SCHED_SHELL_H
int sched_service_main(int argc, char **argv);
#endif
