// Command demo runs the SQS walkthrough of the AWS Service Broker (steps
// 5 to 8 of the user story brokerkit comes from) end to end, on a laptop,
// with moto standing in for AWS. It is what `make demo` runs:
//
//	go run ./examples/demo [-v] [-timeout 5m] [-moto-endpoint URL]
//
// It needs moto_server on PATH (pip install 'moto[server]') and must run
// from inside the brokerkit module, since it builds the example broker:
//
//  1. starts moto_server on a free port of 127.0.0.1;
//  2. builds examples/awsbroker and starts it on another free port, with
//     a temporary data directory, dummy AWS credentials and
//     AWS_ENDPOINT_URL pointing at moto;
//  3. plays the platform over HTTP with brokerkit's own OSB client
//     (package brokertest): fetches the catalog, provisions an SQS
//     "standard" instance named opensource-blog-sqs-demo, polls
//     last_operation until it succeeds, binds os-blog-sqs-binding (an
//     asynchronous bind: the binding's IAM user is a stack of its own),
//     polls the binding's last_operation, fetches the binding, and prints
//     the Kubernetes Secret a pod would mount (values redacted);
//  4. uses only what the binding returned (QueueURL, the access key
//     AccessKeyId and SecretAccessKey, and Region) to send a message to
//     the queue and receive it with the aws-sdk-go-v2 SQS client;
//  5. unbinds (asynchronous too), deprovisions, polls until the instance
//     is gone, and checks on moto that the instance's CloudFormation stack
//     is gone too.
//
// It then stops the broker and moto (also on failure and on Ctrl-C, and
// the kernel kills them if the demo itself is killed, on Linux) and exits
// 0, or 1 after cleaning up if any step failed.
//
// -v copies the output of moto_server and the broker to standard error as
// it comes; without it the last lines are printed only when a step fails.
// -moto-endpoint (default $BROKERKIT_MOTO_ENDPOINT) uses a moto server
// that is already running instead of starting one.
package main
