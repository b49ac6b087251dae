/* aws_ops.c: the operation table (aws_op.h) and the AWS Batch request model (API 2016-08-10) cut
 * down to what Barge serves. The model was generated once from botocore 1.43.11's
 * data/batch/2016-08-10/service-2.json (shapes reachable from the in-scope request members, in
 * model member order; required marks, enums and HTTP routes as in the model) and is maintained
 * by hand since. Barge's departures from the model:
 *   - ComputeResource.subnets is not required (only type and maxvCpus are);
 *   - CreateJobQueue.computeEnvironmentOrder is required;
 *   - out-of-scope members (EKS, ECS, consumable resources, service environments, quota shares)
 *     are typed free JSON and marked out_of_scope: accepted and sent, so the server rejects
 *     them with its own message, but hidden from help and the skeleton. Their shapes are not
 *     modelled.
 * Each row names the validation (writes, producers/aws/control_*.c) or the handler (reads,
 * consumers/views/query*.c) that runs the operation. */
#include <string.h>

#include "aws_op.h"
#include "control.h"
#include "query.h"

/* Members and parameters leave `unhonoured` out (zero) unless they are marked. */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define ENUM(s, values) static const struct aws_shape s_##s = {AWS_STRING, #s, values, NULL, NULL, 0}
#define LIST(s, elem) static const struct aws_shape s_##s = {AWS_LIST, #s, NULL, elem, NULL, 0}
#define MAP(s, value) static const struct aws_shape s_##s = {AWS_MAP, #s, NULL, value, NULL, 0}
#define STRUCT(s) \
  static const struct aws_shape s_##s = {AWS_STRUCT, #s, NULL, NULL, m_##s, N(m_##s)}
#define P(member, flag, shape, req) {member, flag, shape, req, 0, AWS_LOC_BODY}
#define PL(member, flag, shape, req, loc) {member, flag, shape, req, 0, loc}
#define OUT_OF_SCOPE(member, flag, shape) {member, flag, shape, 0, 1, AWS_LOC_BODY}
#define UNHONOURED(member, flag, shape) {member, flag, shape, 0, 0, AWS_LOC_BODY, 1}
#define OP_PARAMS(op) p_##op, N(p_##op)
/* What runs an operation: a write's validation, a read's handler, or nothing yet. */
#define WRITE(fn) fn, NULL
#define READ(fn) NULL, fn
#define NOT_SERVED NULL, NULL
/* The pagination members, in model order. */
#define PAGE_PARAMS P("maxResults", "--max-results", &t_integer, 0), P("nextToken", "--next-token", &t_string, 0)

/* Scalars without an enum share these. */
static const struct aws_shape t_string = {AWS_STRING, "String", NULL, NULL, NULL, 0};
static const struct aws_shape t_integer = {AWS_INTEGER, "Integer", NULL, NULL, NULL, 0};
static const struct aws_shape t_long = {AWS_LONG, "Long", NULL, NULL, NULL, 0};
static const struct aws_shape t_double = {AWS_DOUBLE, "Float", NULL, NULL, NULL, 0};
static const struct aws_shape t_boolean = {AWS_BOOLEAN, "Boolean", NULL, NULL, NULL, 0};
static const struct aws_shape t_json = {AWS_JSON, "Document", NULL, NULL, NULL, 0};

/* Shapes, each after the shapes it refers to. */
static const struct aws_member m_ArrayProperties[] = {
  {"size", &t_integer, 0},
};
STRUCT(ArrayProperties);
ENUM(ArrayJobDependency, "N_TO_N|SEQUENTIAL");
static const struct aws_member m_JobDependency[] = {
  {"jobId", &t_string, 0},
  {"type", &s_ArrayJobDependency, 0},
};
STRUCT(JobDependency);
LIST(JobDependencyList, &s_JobDependency);
MAP(ParametersMap, &t_string);
LIST(StringList, &t_string);
static const struct aws_member m_KeyValuePair[] = {
  {"name", &t_string, 0},
  {"value", &t_string, 0},
};
STRUCT(KeyValuePair);
LIST(EnvironmentVariables, &s_KeyValuePair);
ENUM(ResourceType, "GPU|VCPU|MEMORY");
static const struct aws_member m_ResourceRequirement[] = {
  {"value", &t_string, 1},
  {"type", &s_ResourceType, 1},
};
STRUCT(ResourceRequirement);
LIST(ResourceRequirements, &s_ResourceRequirement);
static const struct aws_member m_ContainerOverrides[] = {
  {"vcpus", &t_integer, 0},
  {"memory", &t_integer, 0},
  {"command", &s_StringList, 0},
  {"instanceType", &t_string, 0},
  {"environment", &s_EnvironmentVariables, 0},
  {"resourceRequirements", &s_ResourceRequirements, 0},
};
STRUCT(ContainerOverrides);
ENUM(RetryAction, "RETRY|EXIT");
static const struct aws_member m_EvaluateOnExit[] = {
  {"onStatusReason", &t_string, 0},
  {"onReason", &t_string, 0},
  {"onExitCode", &t_string, 0},
  {"action", &s_RetryAction, 1},
};
STRUCT(EvaluateOnExit);
LIST(EvaluateOnExitList, &s_EvaluateOnExit);
static const struct aws_member m_RetryStrategy[] = {
  {"attempts", &t_integer, 0},
  {"evaluateOnExit", &s_EvaluateOnExitList, 0},
};
STRUCT(RetryStrategy);
static const struct aws_member m_JobTimeout[] = {
  {"attemptDurationSeconds", &t_integer, 0},
};
STRUCT(JobTimeout);
MAP(TagrisTagsMap, &t_string);
ENUM(JobStatus, "SUBMITTED|PENDING|RUNNABLE|STARTING|RUNNING|SUCCEEDED|FAILED");
static const struct aws_member m_KeyValuesPair[] = {
  {"name", &t_string, 0},
  {"values", &s_StringList, 0},
};
STRUCT(KeyValuesPair);
LIST(ListJobsFilterList, &s_KeyValuesPair);
ENUM(CEType, "MANAGED|UNMANAGED");
ENUM(CEState, "ENABLED|DISABLED");
ENUM(CRType, "EC2|SPOT|FARGATE|FARGATE_SPOT");
ENUM(CRAllocationStrategy, "BEST_FIT|BEST_FIT_PROGRESSIVE|SPOT_CAPACITY_OPTIMIZED|SPOT_PRICE_CAPACITY_OPTIMIZED");
MAP(TagsMap, &t_string);
ENUM(UserdataType, "EKS_BOOTSTRAP_SH|EKS_NODEADM");
static const struct aws_member m_LaunchTemplateSpecificationOverride[] = {
  {"launchTemplateId", &t_string, 0},
  {"launchTemplateName", &t_string, 0},
  {"version", &t_string, 0},
  {"targetInstanceTypes", &s_StringList, 0},
  {"userdataType", &s_UserdataType, 0},
};
STRUCT(LaunchTemplateSpecificationOverride);
LIST(LaunchTemplateSpecificationOverrideList, &s_LaunchTemplateSpecificationOverride);
static const struct aws_member m_LaunchTemplateSpecification[] = {
  {"launchTemplateId", &t_string, 0},
  {"launchTemplateName", &t_string, 0},
  {"version", &t_string, 0},
  {"overrides", &s_LaunchTemplateSpecificationOverrideList, 0},
  {"userdataType", &s_UserdataType, 0},
};
STRUCT(LaunchTemplateSpecification);
static const struct aws_member m_Ec2Configuration[] = {
  {"imageType", &t_string, 1},
  {"imageIdOverride", &t_string, 0},
  {"batchImageStatus", &t_string, 0},
  {"imageKubernetesVersion", &t_string, 0},
};
STRUCT(Ec2Configuration);
LIST(Ec2ConfigurationList, &s_Ec2Configuration);
static const struct aws_member m_ComputeScalingPolicy[] = {
  {"minScaleDownDelayMinutes", &t_integer, 0},
};
STRUCT(ComputeScalingPolicy);
static const struct aws_member m_ComputeResource[] = {
  {"type", &s_CRType, 1},
  {"allocationStrategy", &s_CRAllocationStrategy, 0},
  {"minvCpus", &t_integer, 0},
  {"maxvCpus", &t_integer, 1},
  {"desiredvCpus", &t_integer, 0},
  {"instanceTypes", &s_StringList, 0},
  {"imageId", &t_string, 0},
  {"subnets", &s_StringList, 0},
  {"securityGroupIds", &s_StringList, 0},
  {"ec2KeyPair", &t_string, 0},
  {"instanceRole", &t_string, 0},
  {"tags", &s_TagsMap, 0},
  {"placementGroup", &t_string, 0},
  {"bidPercentage", &t_integer, 0},
  {"spotIamFleetRole", &t_string, 0},
  {"launchTemplate", &s_LaunchTemplateSpecification, 0},
  {"ec2Configuration", &s_Ec2ConfigurationList, 0},
  {"scalingPolicy", &s_ComputeScalingPolicy, 0},
};
STRUCT(ComputeResource);
ENUM(CRUpdateAllocationStrategy, "BEST_FIT_PROGRESSIVE|SPOT_CAPACITY_OPTIMIZED|SPOT_PRICE_CAPACITY_OPTIMIZED");
static const struct aws_member m_ComputeResourceUpdate[] = {
  {"minvCpus", &t_integer, 0},
  {"maxvCpus", &t_integer, 0},
  {"desiredvCpus", &t_integer, 0},
  {"subnets", &s_StringList, 0, 1},
  {"securityGroupIds", &s_StringList, 0, 1},
  {"allocationStrategy", &s_CRUpdateAllocationStrategy, 0},
  {"instanceTypes", &s_StringList, 0},
  {"ec2KeyPair", &t_string, 0, 1},
  {"instanceRole", &t_string, 0, 1},
  {"tags", &s_TagsMap, 0, 1},
  {"placementGroup", &t_string, 0, 1},
  {"bidPercentage", &t_integer, 0, 1},
  {"launchTemplate", &s_LaunchTemplateSpecification, 0, 1},
  {"ec2Configuration", &s_Ec2ConfigurationList, 0, 1},
  {"updateToLatestImageVersion", &t_boolean, 0, 1},
  {"type", &s_CRType, 0, 1},
  {"imageId", &t_string, 0, 1},
  {"scalingPolicy", &s_ComputeScalingPolicy, 0},
};
STRUCT(ComputeResourceUpdate);
static const struct aws_member m_UpdatePolicy[] = {
  {"terminateJobsOnUpdate", &t_boolean, 0},
  {"jobExecutionTimeoutMinutes", &t_long, 0},
};
STRUCT(UpdatePolicy);
ENUM(JQState, "ENABLED|DISABLED");
ENUM(JobQueueType, "EKS|ECS|ECS_FARGATE|SAGEMAKER_TRAINING");
static const struct aws_member m_ComputeEnvironmentOrder[] = {
  {"order", &t_integer, 1},
  {"computeEnvironment", &t_string, 1},
};
STRUCT(ComputeEnvironmentOrder);
LIST(ComputeEnvironmentOrders, &s_ComputeEnvironmentOrder);
ENUM(JobStateTimeLimitActionsState, "RUNNABLE");
ENUM(JobStateTimeLimitActionsAction, "CANCEL|TERMINATE");
static const struct aws_member m_JobStateTimeLimitAction[] = {
  {"reason", &t_string, 1},
  {"state", &s_JobStateTimeLimitActionsState, 1},
  {"maxTimeSeconds", &t_integer, 1},
  {"action", &s_JobStateTimeLimitActionsAction, 1},
};
STRUCT(JobStateTimeLimitAction);
LIST(JobStateTimeLimitActions, &s_JobStateTimeLimitAction);
ENUM(JobDefinitionType, "container|multinode");
static const struct aws_member m_Host[] = {
  {"sourcePath", &t_string, 0},
};
STRUCT(Host);
ENUM(EFSTransitEncryption, "ENABLED|DISABLED");
ENUM(EFSAuthorizationConfigIAM, "ENABLED|DISABLED");
static const struct aws_member m_EFSAuthorizationConfig[] = {
  {"accessPointId", &t_string, 0},
  {"iam", &s_EFSAuthorizationConfigIAM, 0},
};
STRUCT(EFSAuthorizationConfig);
static const struct aws_member m_EFSVolumeConfiguration[] = {
  {"fileSystemId", &t_string, 1},
  {"rootDirectory", &t_string, 0},
  {"transitEncryption", &s_EFSTransitEncryption, 0},
  {"transitEncryptionPort", &t_integer, 0},
  {"authorizationConfig", &s_EFSAuthorizationConfig, 0},
};
STRUCT(EFSVolumeConfiguration);
static const struct aws_member m_S3FilesVolumeConfiguration[] = {
  {"fileSystemArn", &t_string, 1},
  {"rootDirectory", &t_string, 0},
  {"transitEncryptionPort", &t_integer, 0},
  {"accessPointArn", &t_string, 0},
};
STRUCT(S3FilesVolumeConfiguration);
static const struct aws_member m_Volume[] = {
  {"host", &s_Host, 0},
  {"name", &t_string, 0},
  {"efsVolumeConfiguration", &s_EFSVolumeConfiguration, 0},
  {"s3filesVolumeConfiguration", &s_S3FilesVolumeConfiguration, 0},
};
STRUCT(Volume);
LIST(Volumes, &s_Volume);
static const struct aws_member m_MountPoint[] = {
  {"containerPath", &t_string, 0},
  {"readOnly", &t_boolean, 0},
  {"sourceVolume", &t_string, 0},
};
STRUCT(MountPoint);
LIST(MountPoints, &s_MountPoint);
static const struct aws_member m_Ulimit[] = {
  {"hardLimit", &t_integer, 1},
  {"name", &t_string, 1},
  {"softLimit", &t_integer, 1},
};
STRUCT(Ulimit);
LIST(Ulimits, &s_Ulimit);
ENUM(DeviceCgroupPermission, "READ|WRITE|MKNOD");
LIST(DeviceCgroupPermissions, &s_DeviceCgroupPermission);
static const struct aws_member m_Device[] = {
  {"hostPath", &t_string, 1},
  {"containerPath", &t_string, 0},
  {"permissions", &s_DeviceCgroupPermissions, 0},
};
STRUCT(Device);
LIST(DevicesList, &s_Device);
static const struct aws_member m_Tmpfs[] = {
  {"containerPath", &t_string, 1},
  {"size", &t_integer, 1},
  {"mountOptions", &s_StringList, 0},
};
STRUCT(Tmpfs);
LIST(TmpfsList, &s_Tmpfs);
static const struct aws_member m_LinuxParameters[] = {
  {"devices", &s_DevicesList, 0},
  {"initProcessEnabled", &t_boolean, 0},
  {"sharedMemorySize", &t_integer, 0},
  {"tmpfs", &s_TmpfsList, 0},
  {"maxSwap", &t_integer, 0},
  {"swappiness", &t_integer, 0},
};
STRUCT(LinuxParameters);
ENUM(LogDriver, "json-file|syslog|journald|gelf|fluentd|awslogs|splunk|awsfirelens");
MAP(LogConfigurationOptionsMap, &t_string);
static const struct aws_member m_Secret[] = {
  {"name", &t_string, 1},
  {"valueFrom", &t_string, 1},
};
STRUCT(Secret);
LIST(SecretList, &s_Secret);
static const struct aws_member m_LogConfiguration[] = {
  {"logDriver", &s_LogDriver, 1},
  {"options", &s_LogConfigurationOptionsMap, 0},
  {"secretOptions", &s_SecretList, 0},
};
STRUCT(LogConfiguration);
ENUM(AssignPublicIp, "ENABLED|DISABLED");
static const struct aws_member m_NetworkConfiguration[] = {
  {"assignPublicIp", &s_AssignPublicIp, 0},
};
STRUCT(NetworkConfiguration);
static const struct aws_member m_FargatePlatformConfiguration[] = {
  {"platformVersion", &t_string, 0},
};
STRUCT(FargatePlatformConfiguration);
static const struct aws_member m_EphemeralStorage[] = {
  {"sizeInGiB", &t_integer, 1},
};
STRUCT(EphemeralStorage);
static const struct aws_member m_RuntimePlatform[] = {
  {"operatingSystemFamily", &t_string, 0},
  {"cpuArchitecture", &t_string, 0},
};
STRUCT(RuntimePlatform);
static const struct aws_member m_RepositoryCredentials[] = {
  {"credentialsParameter", &t_string, 1},
};
STRUCT(RepositoryCredentials);
static const struct aws_member m_ContainerProperties[] = {
  {"image", &t_string, 0},
  {"vcpus", &t_integer, 0},
  {"memory", &t_integer, 0},
  {"command", &s_StringList, 0},
  {"jobRoleArn", &t_string, 0},
  {"executionRoleArn", &t_string, 0},
  {"volumes", &s_Volumes, 0},
  {"environment", &s_EnvironmentVariables, 0},
  {"mountPoints", &s_MountPoints, 0},
  {"readonlyRootFilesystem", &t_boolean, 0},
  {"privileged", &t_boolean, 0},
  {"ulimits", &s_Ulimits, 0},
  {"user", &t_string, 0},
  {"instanceType", &t_string, 0},
  {"resourceRequirements", &s_ResourceRequirements, 0},
  {"linuxParameters", &s_LinuxParameters, 0},
  {"logConfiguration", &s_LogConfiguration, 0},
  {"secrets", &s_SecretList, 0},
  {"networkConfiguration", &s_NetworkConfiguration, 0},
  {"fargatePlatformConfiguration", &s_FargatePlatformConfiguration, 0},
  {"enableExecuteCommand", &t_boolean, 0},
  {"ephemeralStorage", &s_EphemeralStorage, 0},
  {"runtimePlatform", &s_RuntimePlatform, 0},
  {"repositoryCredentials", &s_RepositoryCredentials, 0},
};
STRUCT(ContainerProperties);
/* Multi-node (checked in control_mnp.c); the ECS, EKS and consumable-resource members of a node
 * range are out of scope: free JSON, refused there by name. */
static const struct aws_member m_NodeRangeProperty[] = {
  {"targetNodes", &t_string, 1},
  {"container", &s_ContainerProperties, 0},
  {"instanceTypes", &s_StringList, 0},
  {"ecsProperties", &t_json, 0},
  {"eksProperties", &t_json, 0},
  {"consumableResourceProperties", &t_json, 0},
};
STRUCT(NodeRangeProperty);
LIST(NodeRangeProperties, &s_NodeRangeProperty);
static const struct aws_member m_NodeProperties[] = {
  {"numNodes", &t_integer, 1},
  {"mainNode", &t_integer, 1},
  {"nodeRangeProperties", &s_NodeRangeProperties, 1},
};
STRUCT(NodeProperties);
static const struct aws_member m_NodePropertyOverride[] = {
  {"targetNodes", &t_string, 1},
  {"containerOverrides", &s_ContainerOverrides, 0},
  {"ecsPropertiesOverride", &t_json, 0},
  {"instanceTypes", &s_StringList, 0},
  {"eksPropertiesOverride", &t_json, 0},
  {"consumableResourcePropertiesOverride", &t_json, 0},
};
STRUCT(NodePropertyOverride);
LIST(NodePropertyOverrides, &s_NodePropertyOverride);
static const struct aws_member m_NodeOverrides[] = {
  {"numNodes", &t_integer, 0},
  {"nodePropertyOverrides", &s_NodePropertyOverrides, 0},
};
STRUCT(NodeOverrides);
ENUM(PlatformCapability, "EC2|FARGATE");
LIST(PlatformCapabilityList, &s_PlatformCapability);
static const struct aws_member m_ShareAttributes[] = {
  {"shareIdentifier", &t_string, 1},
  {"weightFactor", &t_double, 0},
};
STRUCT(ShareAttributes);
LIST(ShareAttributesList, &s_ShareAttributes);
static const struct aws_member m_FairsharePolicy[] = {
  {"shareDecaySeconds", &t_integer, 0},
  {"computeReservation", &t_integer, 0},
  {"shareDistribution", &s_ShareAttributesList, 0},
};
STRUCT(FairsharePolicy);
LIST(TagKeysList, &t_string);

static const struct aws_param p_SubmitJob[] = {
  P("jobName", "--job-name", &t_string, 1),
  P("jobQueue", "--job-queue", &t_string, 1),
  P("shareIdentifier", "--share-identifier", &t_string, 0),
  P("schedulingPriorityOverride", "--scheduling-priority-override", &t_integer, 0),
  P("arrayProperties", "--array-properties", &s_ArrayProperties, 0),
  P("dependsOn", "--depends-on", &s_JobDependencyList, 0),
  P("jobDefinition", "--job-definition", &t_string, 1),
  P("parameters", "--parameters", &s_ParametersMap, 0),
  P("containerOverrides", "--container-overrides", &s_ContainerOverrides, 0),
  P("nodeOverrides", "--node-overrides", &s_NodeOverrides, 0),
  P("retryStrategy", "--retry-strategy", &s_RetryStrategy, 0),
  P("propagateTags", "--propagate-tags", &t_boolean, 0),
  P("timeout", "--timeout", &s_JobTimeout, 0),
  P("tags", "--tags", &s_TagrisTagsMap, 0),
  OUT_OF_SCOPE("eksPropertiesOverride", "--eks-properties-override", &t_json),
  OUT_OF_SCOPE("ecsPropertiesOverride", "--ecs-properties-override", &t_json),
  OUT_OF_SCOPE("consumableResourcePropertiesOverride", "--consumable-resource-properties-override", &t_json),
};
static const struct aws_param p_DescribeJobs[] = {
  P("jobs", "--jobs", &s_StringList, 1),
};
static const struct aws_param p_ListJobs[] = {
  P("jobQueue", "--job-queue", &t_string, 0),
  P("arrayJobId", "--array-job-id", &t_string, 0),
  P("multiNodeJobId", "--multi-node-job-id", &t_string, 0),
  P("jobStatus", "--job-status", &s_JobStatus, 0),
  PAGE_PARAMS,
  P("filters", "--filters", &s_ListJobsFilterList, 0),
};
static const struct aws_param p_StopJob[] = { /* CancelJob and TerminateJob */
  P("jobId", "--job-id", &t_string, 1),
  P("reason", "--reason", &t_string, 1),
};
static const struct aws_param p_CreateComputeEnvironment[] = {
  P("computeEnvironmentName", "--compute-environment-name", &t_string, 1),
  P("type", "--type", &s_CEType, 1),
  P("state", "--state", &s_CEState, 0),
  P("unmanagedvCpus", "--unmanagedv-cpus", &t_integer, 0),
  P("computeResources", "--compute-resources", &s_ComputeResource, 0),
  P("serviceRole", "--service-role", &t_string, 0),
  P("tags", "--tags", &s_TagrisTagsMap, 0),
  OUT_OF_SCOPE("eksConfiguration", "--eks-configuration", &t_json),
  UNHONOURED("context", "--context", &t_string),
};
static const struct aws_param p_UpdateComputeEnvironment[] = {
  P("computeEnvironment", "--compute-environment", &t_string, 1),
  P("state", "--state", &s_CEState, 0),
  P("unmanagedvCpus", "--unmanagedv-cpus", &t_integer, 0),
  P("computeResources", "--compute-resources", &s_ComputeResourceUpdate, 0),
  P("serviceRole", "--service-role", &t_string, 0),
  UNHONOURED("updatePolicy", "--update-policy", &s_UpdatePolicy),
  UNHONOURED("context", "--context", &t_string),
};
static const struct aws_param p_DeleteComputeEnvironment[] = {
  P("computeEnvironment", "--compute-environment", &t_string, 1),
};
static const struct aws_param p_DescribeComputeEnvironments[] = {
  P("computeEnvironments", "--compute-environments", &s_StringList, 0),
  PAGE_PARAMS,
};
static const struct aws_param p_CreateJobQueue[] = {
  P("jobQueueName", "--job-queue-name", &t_string, 1),
  P("state", "--state", &s_JQState, 0),
  P("schedulingPolicyArn", "--scheduling-policy-arn", &t_string, 0),
  P("priority", "--priority", &t_integer, 1),
  P("computeEnvironmentOrder", "--compute-environment-order", &s_ComputeEnvironmentOrders, 1),
  OUT_OF_SCOPE("serviceEnvironmentOrder", "--service-environment-order", &t_json),
  P("jobQueueType", "--job-queue-type", &s_JobQueueType, 0),
  P("tags", "--tags", &s_TagrisTagsMap, 0),
  P("jobStateTimeLimitActions", "--job-state-time-limit-actions", &s_JobStateTimeLimitActions, 0),
};
static const struct aws_param p_UpdateJobQueue[] = {
  P("jobQueue", "--job-queue", &t_string, 1),
  P("state", "--state", &s_JQState, 0),
  P("schedulingPolicyArn", "--scheduling-policy-arn", &t_string, 0),
  P("priority", "--priority", &t_integer, 0),
  P("computeEnvironmentOrder", "--compute-environment-order", &s_ComputeEnvironmentOrders, 0),
  OUT_OF_SCOPE("serviceEnvironmentOrder", "--service-environment-order", &t_json),
  P("jobStateTimeLimitActions", "--job-state-time-limit-actions", &s_JobStateTimeLimitActions, 0),
};
static const struct aws_param p_DeleteJobQueue[] = {
  P("jobQueue", "--job-queue", &t_string, 1),
};
static const struct aws_param p_DescribeJobQueues[] = {
  P("jobQueues", "--job-queues", &s_StringList, 0),
  PAGE_PARAMS,
};
static const struct aws_param p_RegisterJobDefinition[] = {
  P("jobDefinitionName", "--job-definition-name", &t_string, 1),
  P("type", "--type", &s_JobDefinitionType, 1),
  P("parameters", "--parameters", &s_ParametersMap, 0),
  P("schedulingPriority", "--scheduling-priority", &t_integer, 0),
  P("containerProperties", "--container-properties", &s_ContainerProperties, 0),
  P("nodeProperties", "--node-properties", &s_NodeProperties, 0),
  P("retryStrategy", "--retry-strategy", &s_RetryStrategy, 0),
  P("propagateTags", "--propagate-tags", &t_boolean, 0),
  P("timeout", "--timeout", &s_JobTimeout, 0),
  P("tags", "--tags", &s_TagrisTagsMap, 0),
  P("platformCapabilities", "--platform-capabilities", &s_PlatformCapabilityList, 0),
  OUT_OF_SCOPE("eksProperties", "--eks-properties", &t_json),
  OUT_OF_SCOPE("ecsProperties", "--ecs-properties", &t_json),
  OUT_OF_SCOPE("consumableResourceProperties", "--consumable-resource-properties", &t_json),
};
static const struct aws_param p_DeregisterJobDefinition[] = {
  P("jobDefinition", "--job-definition", &t_string, 1),
};
static const struct aws_param p_DescribeJobDefinitions[] = {
  P("jobDefinitions", "--job-definitions", &s_StringList, 0),
  P("maxResults", "--max-results", &t_integer, 0),
  P("jobDefinitionName", "--job-definition-name", &t_string, 0),
  P("status", "--status", &t_string, 0),
  P("nextToken", "--next-token", &t_string, 0),
};
static const struct aws_param p_CreateSchedulingPolicy[] = {
  P("name", "--name", &t_string, 1),
  OUT_OF_SCOPE("quotaSharePolicy", "--quota-share-policy", &t_json),
  P("fairsharePolicy", "--fairshare-policy", &s_FairsharePolicy, 0),
  P("tags", "--tags", &s_TagrisTagsMap, 0),
};
static const struct aws_param p_UpdateSchedulingPolicy[] = {
  P("arn", "--arn", &t_string, 1),
  OUT_OF_SCOPE("quotaSharePolicy", "--quota-share-policy", &t_json),
  P("fairsharePolicy", "--fairshare-policy", &s_FairsharePolicy, 0),
};
static const struct aws_param p_DeleteSchedulingPolicy[] = {
  P("arn", "--arn", &t_string, 1),
};
static const struct aws_param p_DescribeSchedulingPolicies[] = {
  P("arns", "--arns", &s_StringList, 1),
};
static const struct aws_param p_ListSchedulingPolicies[] = {
  PAGE_PARAMS,
};
static const struct aws_param p_GetJobQueueSnapshot[] = {
  P("jobQueue", "--job-queue", &t_string, 1),
};
static const struct aws_param p_TagResource[] = {
  PL("resourceArn", "--resource-arn", &t_string, 1, AWS_LOC_URI),
  P("tags", "--tags", &s_TagrisTagsMap, 1),
};
static const struct aws_param p_UntagResource[] = {
  PL("resourceArn", "--resource-arn", &t_string, 1, AWS_LOC_URI),
  PL("tagKeys", "--tag-keys", &s_TagKeysList, 1, AWS_LOC_QUERY),
};
static const struct aws_param p_ListTagsForResource[] = {
  PL("resourceArn", "--resource-arn", &t_string, 1, AWS_LOC_URI),
};

const struct aws_op aws_ops[] = {
  {"submit-job", "SubmitJob", "POST", "/v1/submitjob",
   OP_PARAMS(SubmitJob), WRITE(control_submit_job), NULL, "--from-jsonl",
   "Submits a job (single or array) from a job definition to a job queue.",
   "barge submit-job --job-name nightly --job-queue default --job-definition nightly:3 \\\n"
   "      --array-properties size=8 --depends-on jobId=0b9e7c1a-3f52-4d8e-b6a0-7c2d94e1f358,type=N_TO_N \\\n"
   "      --container-overrides 'command=sleep,60,environment=[{name=MODE,value=fast}]'"},
  {"describe-jobs", "DescribeJobs", "POST", "/v1/describejobs",
   OP_PARAMS(DescribeJobs), READ(query_describe_jobs), NULL, NULL,
   "Describes up to 100 jobs by id (array children as <id>:<index>).",
   "barge describe-jobs --jobs 0b9e7c1a-3f52-4d8e-b6a0-7c2d94e1f358 0b9e7c1a-3f52-4d8e-b6a0-7c2d94e1f358:0"},
  {"list-jobs", "ListJobs", "POST", "/v1/listjobs",
   OP_PARAMS(ListJobs), READ(query_list_jobs), "jobSummaryList", NULL,
   "Lists the jobs of a queue, or the children of an array job.",
   "barge list-jobs --job-queue default --job-status RUNNABLE"},
  {"cancel-job", "CancelJob", "POST", "/v1/canceljob",
   OP_PARAMS(StopJob), WRITE(control_cancel_job), NULL, NULL,
   "Cancels a job that has not started yet.",
   "barge cancel-job --job-id 0b9e7c1a-3f52-4d8e-b6a0-7c2d94e1f358 --reason 'no longer needed'"},
  {"terminate-job", "TerminateJob", "POST", "/v1/terminatejob",
   OP_PARAMS(StopJob), WRITE(control_terminate_job), NULL, NULL,
   "Terminates a job, stopping its container if it is running.",
   "barge terminate-job --job-id 0b9e7c1a-3f52-4d8e-b6a0-7c2d94e1f358 --reason 'wrong input'"},
  {"create-compute-environment", "CreateComputeEnvironment", "POST", "/v1/createcomputeenvironment",
   OP_PARAMS(CreateComputeEnvironment), WRITE(control_create_compute_environment), NULL, NULL,
   "Creates a managed or unmanaged compute environment.",
   "barge create-compute-environment --compute-environment-name ce1 --type MANAGED --state ENABLED \\\n"
   "      --compute-resources type=EC2,minvCpus=0,maxvCpus=64,instanceTypes=optimal,subnets=subnet-1,securityGroupIds=sg-1"},
  {"update-compute-environment", "UpdateComputeEnvironment", "POST", "/v1/updatecomputeenvironment",
   OP_PARAMS(UpdateComputeEnvironment), WRITE(control_update_compute_environment), NULL, NULL,
   "Updates a compute environment's state or resources.",
   "barge update-compute-environment --compute-environment ce1 --compute-resources minvCpus=0,maxvCpus=128"},
  {"delete-compute-environment", "DeleteComputeEnvironment", "POST", "/v1/deletecomputeenvironment",
   OP_PARAMS(DeleteComputeEnvironment), WRITE(control_delete_compute_environment), NULL, NULL,
   "Deletes a DISABLED compute environment that no queue uses.",
   "barge delete-compute-environment --compute-environment ce1"},
  {"describe-compute-environments", "DescribeComputeEnvironments", "POST", "/v1/describecomputeenvironments",
   OP_PARAMS(DescribeComputeEnvironments), READ(query_describe_compute_environments), "computeEnvironments", NULL,
   "Describes compute environments (all when none is named).",
   "barge describe-compute-environments --compute-environments ce1"},
  {"create-job-queue", "CreateJobQueue", "POST", "/v1/createjobqueue",
   OP_PARAMS(CreateJobQueue), WRITE(control_create_job_queue), NULL, NULL,
   "Creates a job queue over 1 to 3 compute environments.",
   "barge create-job-queue --job-queue-name default --priority 10 \\\n"
   "      --compute-environment-order order=1,computeEnvironment=ce1 order=2,computeEnvironment=ce2"},
  {"update-job-queue", "UpdateJobQueue", "POST", "/v1/updatejobqueue",
   OP_PARAMS(UpdateJobQueue), WRITE(control_update_job_queue), NULL, NULL,
   "Updates a job queue's state, priority, compute environments or policy.",
   "barge update-job-queue --job-queue default --state DISABLED"},
  {"delete-job-queue", "DeleteJobQueue", "POST", "/v1/deletejobqueue",
   OP_PARAMS(DeleteJobQueue), WRITE(control_delete_job_queue), NULL, NULL,
   "Deletes a job queue.",
   "barge delete-job-queue --job-queue default"},
  {"describe-job-queues", "DescribeJobQueues", "POST", "/v1/describejobqueues",
   OP_PARAMS(DescribeJobQueues), READ(query_describe_job_queues), "jobQueues", NULL,
   "Describes job queues (all when none is named).",
   "barge describe-job-queues --job-queues default"},
  {"register-job-definition", "RegisterJobDefinition", "POST", "/v1/registerjobdefinition",
   OP_PARAMS(RegisterJobDefinition), WRITE(control_register_job_definition), NULL, NULL,
   "Registers a new revision of a container job definition.",
   "barge register-job-definition --job-definition-name nightly --type container \\\n"
   "      --container-properties '{\"image\": \"busybox\", \"command\": [\"sleep\", \"60\"], \"resourceRequirements\": [{\"type\": \"VCPU\", \"value\": \"1\"}, {\"type\": \"MEMORY\", \"value\": \"512\"}]}' \\\n"
   "      --retry-strategy attempts=3"},
  {"deregister-job-definition", "DeregisterJobDefinition", "POST", "/v1/deregisterjobdefinition",
   OP_PARAMS(DeregisterJobDefinition), WRITE(control_deregister_job_definition), NULL, NULL,
   "Deregisters a job definition revision (name:revision or ARN).",
   "barge deregister-job-definition --job-definition nightly:3"},
  {"describe-job-definitions", "DescribeJobDefinitions", "POST", "/v1/describejobdefinitions",
   OP_PARAMS(DescribeJobDefinitions), READ(query_describe_job_definitions), "jobDefinitions", NULL,
   "Describes job definitions, by name, revision or status.",
   "barge describe-job-definitions --job-definition-name nightly --status ACTIVE"},
  {"create-scheduling-policy", "CreateSchedulingPolicy", "POST", "/v1/createschedulingpolicy",
   OP_PARAMS(CreateSchedulingPolicy), WRITE(control_create_scheduling_policy), NULL, NULL,
   "Creates a fair-share scheduling policy.",
   "barge create-scheduling-policy --name fair \\\n"
   "      --fairshare-policy 'shareDecaySeconds=3600,computeReservation=50,shareDistribution=[{shareIdentifier=teamA,weightFactor=0.5},{shareIdentifier=teamB*}]'"},
  {"update-scheduling-policy", "UpdateSchedulingPolicy", "POST", "/v1/updateschedulingpolicy",
   OP_PARAMS(UpdateSchedulingPolicy), WRITE(control_update_scheduling_policy), NULL, NULL,
   "Updates a scheduling policy's fair-share parameters.",
   "barge update-scheduling-policy --arn arn:aws:batch:us-east-1:123456789012:scheduling-policy/fair --fairshare-policy shareDecaySeconds=600"},
  {"delete-scheduling-policy", "DeleteSchedulingPolicy", "POST", "/v1/deleteschedulingpolicy",
   OP_PARAMS(DeleteSchedulingPolicy), WRITE(control_delete_scheduling_policy), NULL, NULL,
   "Deletes a scheduling policy.",
   "barge delete-scheduling-policy --arn arn:aws:batch:us-east-1:123456789012:scheduling-policy/fair"},
  {"describe-scheduling-policies", "DescribeSchedulingPolicies", "POST", "/v1/describeschedulingpolicies",
   OP_PARAMS(DescribeSchedulingPolicies), READ(query_describe_scheduling_policies), NULL, NULL,
   "Describes scheduling policies by ARN.",
   "barge describe-scheduling-policies --arns arn:aws:batch:us-east-1:123456789012:scheduling-policy/fair"},
  {"list-scheduling-policies", "ListSchedulingPolicies", "POST", "/v1/listschedulingpolicies",
   OP_PARAMS(ListSchedulingPolicies), READ(query_list_scheduling_policies), "schedulingPolicies", NULL,
   "Lists scheduling policies.",
   "barge list-scheduling-policies --max-results 10"},
  {"get-job-queue-snapshot", "GetJobQueueSnapshot", "POST", "/v1/getjobqueuesnapshot",
   OP_PARAMS(GetJobQueueSnapshot), READ(query_get_job_queue_snapshot), NULL, NULL,
   "Shows the RUNNABLE jobs at the front of a queue, in dispatch order.",
   "barge get-job-queue-snapshot --job-queue default"},
  {"tag-resource", "TagResource", "POST", "/v1/tags/{resourceArn}",
   OP_PARAMS(TagResource), WRITE(control_tag_resource), NULL, NULL,
   "Adds tags to a compute environment, queue, policy, job definition or job.",
   "barge tag-resource --resource-arn arn:aws:batch:us-east-1:123456789012:job-queue/default --tags team=ml,env=prod"},
  {"untag-resource", "UntagResource", "DELETE", "/v1/tags/{resourceArn}",
   OP_PARAMS(UntagResource), WRITE(control_untag_resource), NULL, NULL,
   "Removes tags from a resource.",
   "barge untag-resource --resource-arn arn:aws:batch:us-east-1:123456789012:job-queue/default --tag-keys team env"},
  {"list-tags-for-resource", "ListTagsForResource", "GET", "/v1/tags/{resourceArn}",
   OP_PARAMS(ListTagsForResource), READ(query_list_tags_for_resource), NULL, NULL,
   "Lists the tags of a resource.",
   "barge list-tags-for-resource --resource-arn arn:aws:batch:us-east-1:123456789012:job-queue/default"},
};
const size_t aws_n_ops = N(aws_ops);

const struct aws_op *aws_op_find(const char *cli_name) {
  if (!cli_name) return NULL;
  for (size_t i = 0; i < aws_n_ops; i++)
    if (strcmp(aws_ops[i].cli_name, cli_name) == 0) return &aws_ops[i];
  return NULL;
}

const struct aws_op *aws_op_find_api(const char *api_name) {
  if (!api_name) return NULL;
  for (size_t i = 0; i < aws_n_ops; i++)
    if (strcmp(aws_ops[i].api_name, api_name) == 0) return &aws_ops[i];
  return NULL;
}

const struct aws_param *aws_param_find(const struct aws_op *op, const char *member) {
  for (size_t i = 0; op && member && i < op->n_params; i++)
    if (strcmp(op->params[i].member, member) == 0) return &op->params[i];
  return NULL;
}

int aws_check_request(const struct aws_op *op, const json_t *req, char *err, size_t errlen) {
  const char *k;
  json_t *v;
  json_object_foreach((json_t *)req, k, v) {
    const struct aws_param *p = aws_param_find(op, k);
    if (!p) {
      struct buf b;
      buf_init(&b);
      for (size_t j = 0; j < op->n_params; j++)
        if (!op->params[j].out_of_scope) buf_printf(&b, "%s%s", b.len ? ", " : "", op->params[j].member);
      api_error(err, errlen, API_CLIENT_ERROR, "unknown parameter %s, must be one of: %s", k, (char *)b.data);
      buf_release(&b);
      return API_CLIENT_ERROR;
    }
    if (p->out_of_scope) return ctl_out_of_scope(k, err, errlen);
    if (p->unhonoured) {
      aws_refuse_unhonoured(k, err, errlen);
      return API_CLIENT_ERROR;
    }
    if (aws_validate(p->shape, v, k, err, errlen)) return API_CLIENT_ERROR;
    if (p->shape == &s_TagrisTagsMap && aws_check_tags(v, k, err, errlen)) return API_CLIENT_ERROR;
  }
  return 0;
}

int aws_op_call(const struct aws_op *op, const struct bus_conf *bc, const json_t *req,
                json_t **resp, char *err, size_t errlen) {
  return aws_op_call_as(op, bc, NULL, req, resp, err, errlen);
}

int aws_op_call_as(const struct aws_op *op, const struct bus_conf *bc, const struct aws_caller *who,
                   const json_t *req, json_t **resp, char *err, size_t errlen) {
  *resp = NULL;
  int rc = aws_check_request(op, req, err, errlen);
  if (rc) return rc;
  if (op->prepare) return control_apply_as(op->prepare, bc, who, req, resp, err, errlen);
  if (op->handler) return op->handler(bc, req, resp, err, errlen);
  return api_error(err, errlen, API_CLIENT_ERROR, "%s is not implemented by Barge yet", op->api_name);
}

const char *aws_error_class(int status) {
  return status == API_CLIENT_ERROR ? "ClientException" : "ServerException";
}
