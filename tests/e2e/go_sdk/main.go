// go_sdk: the Go SDK (github.com/aws/aws-sdk-go-v2/service/batch) against `barge api`, run by
// tests/e2e/test_api_go.py. Credentials, region and BaseEndpoint are set in code, not taken from
// the environment or ~/.aws. It describes the queue, submits a job, describes it until it is
// SUCCEEDED or FAILED, and checks that the SDK decodes Barge's errors: a wrong secret
// (InvalidSignatureException) and an operation's own refusal (ClientException). It prints one
// JSON object with what it saw; the Python side judges it.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/batch"
	"github.com/aws/smithy-go"
)

func client(endpoint, key, secret string) *batch.Client {
	return batch.New(batch.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(endpoint),
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: key, SecretAccessKey: secret, Source: "barge-e2e"}, nil
		}),
		RetryMaxAttempts: 1,
	})
}

func apiError(err error) map[string]string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return map[string]string{"code": ae.ErrorCode(), "message": ae.ErrorMessage()}
	}
	if err != nil {
		return map[string]string{"code": "", "message": err.Error()}
	}
	return nil
}

func main() {
	endpoint := flag.String("endpoint", "", "barge api's URL")
	key := flag.String("access-key", "", "access key id")
	secret := flag.String("secret", "", "secret access key")
	queue := flag.String("queue", "", "job queue")
	jd := flag.String("job-definition", "", "job definition")
	wait := flag.Duration("wait", 180*time.Second, "how long to wait for the job to finish")
	flag.Parse()

	ctx := context.Background()
	c := client(*endpoint, *key, *secret)
	out := map[string]any{}
	fail := func(what string, err error) {
		out["error"] = fmt.Sprintf("%s: %v", what, err)
		json.NewEncoder(os.Stdout).Encode(out)
		os.Exit(1)
	}

	qs, err := c.DescribeJobQueues(ctx, &batch.DescribeJobQueuesInput{JobQueues: []string{*queue}})
	if err != nil {
		fail("DescribeJobQueues", err)
	}
	names := []string{}
	for _, q := range qs.JobQueues {
		names = append(names, aws.ToString(q.JobQueueName))
	}
	out["queues"] = names

	sub, err := c.SubmitJob(ctx, &batch.SubmitJobInput{
		JobName: aws.String("go-sdk-1"), JobQueue: queue, JobDefinition: jd,
	})
	if err != nil {
		fail("SubmitJob", err)
	}
	id := aws.ToString(sub.JobId)
	out["submit"] = map[string]string{"jobId": id, "jobName": aws.ToString(sub.JobName), "jobArn": aws.ToString(sub.JobArn)}

	seen := []string{}
	deadline := time.Now().Add(*wait)
	for {
		d, err := c.DescribeJobs(ctx, &batch.DescribeJobsInput{Jobs: []string{id}})
		if err != nil {
			fail("DescribeJobs", err)
		}
		if len(d.Jobs) == 1 {
			j := d.Jobs[0]
			st := string(j.Status)
			if len(seen) == 0 || seen[len(seen)-1] != st {
				seen = append(seen, st)
			}
			if st == "SUCCEEDED" || st == "FAILED" {
				exit := int32(-1)
				if j.Container != nil && j.Container.ExitCode != nil {
					exit = *j.Container.ExitCode
				}
				out["final"] = map[string]any{"jobId": aws.ToString(j.JobId), "status": st,
					"jobQueue": aws.ToString(j.JobQueue), "exitCode": exit,
					"createdAt": aws.ToInt64(j.CreatedAt), "stoppedAt": aws.ToInt64(j.StoppedAt)}
				break
			}
		}
		if time.Now().After(deadline) {
			out["seen"] = seen
			fail("waiting for the job", fmt.Errorf("not finished after %v", *wait))
		}
		time.Sleep(time.Second)
	}
	out["seen"] = seen

	ids := make([]string, 101)
	for i := range ids {
		ids[i] = fmt.Sprintf("id-%d", i)
	}
	_, err = c.DescribeJobs(ctx, &batch.DescribeJobsInput{Jobs: ids})
	out["tooManyIds"] = apiError(err)
	_, err = client(*endpoint, *key, "not-the-secret").DescribeJobQueues(ctx, &batch.DescribeJobQueuesInput{})
	out["wrongSecret"] = apiError(err)

	json.NewEncoder(os.Stdout).Encode(out)
}
