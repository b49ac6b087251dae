/* agent_main.h: `barge agent`, one instance's job runner on Kafka. */
#ifndef BARGE_AGENT_MAIN_H
#define BARGE_AGENT_MAIN_H
int agent_service_main(int argc, char **argv);
#endif
