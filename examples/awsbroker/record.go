package main

import (
	"context"
	"fmt"
	"os"
	"sync"

	"github.com/aws/smithy-go/middleware"
)

// envRecordCalls names a file to which the program appends the IAM action
// of every AWS API operation it calls ("cloudformation:CreateStack"), one
// a line, each at most once per process. It is not a documented setting:
// the tests set it to prove that deploy/iam.yaml grants exactly what the
// program calls (see deploy/policy_test.go).
const envRecordCalls = "AWSBROKER_RECORD_AWS_CALLS"

// iamPrefixes maps the SDK's service IDs to the services' prefixes in IAM
// actions. A service missing here is recorded as "unknown(<ID>)", which
// no policy grants, so the policy test fails until it is added.
var iamPrefixes = map[string]string{
	"CloudFormation":  "cloudformation",
	"IAM":             "iam",
	"STS":             "sts",
	"SSM":             "ssm",
	"Secrets Manager": "secretsmanager",
	"DynamoDB":        "dynamodb",
}

// iamAction is the IAM action of an SDK operation. For the services the
// program uses, the action's name is the operation's.
func iamAction(serviceID, operation string) string {
	prefix, ok := iamPrefixes[serviceID]
	if !ok {
		prefix = "unknown(" + serviceID + ")"
	}
	return prefix + ":" + operation
}

// callRecorder appends IAM actions to a file.
type callRecorder struct {
	mu   sync.Mutex
	f    *os.File
	seen map[string]bool
}

// openRecorder opens (creating, appending) the file path. Several
// processes may append to one file: each line is one write.
func openRecorder(path string) (*callRecorder, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", envRecordCalls, err)
	}
	return &callRecorder{f: f, seen: map[string]bool{}}, nil
}

func (r *callRecorder) record(action string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.seen[action] {
		return
	}
	r.seen[action] = true
	_, _ = r.f.WriteString(action + "\n")
}

func (r *callRecorder) Close() error { return r.f.Close() }

// recordID is the ID of the recording middleware.
const recordID = "awsbroker.RecordCalls"

// apiOption adds the recording middleware to a client's stack: in the
// Initialize step, so each call is recorded once whatever its retries,
// and before the call is sent, so that a call AWS refuses is recorded
// too. Every client sets the service ID and operation name in the
// context before its stack runs.
func (r *callRecorder) apiOption(st *middleware.Stack) error {
	return st.Initialize.Add(middleware.InitializeMiddlewareFunc(recordID,
		func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			r.record(iamAction(middleware.GetServiceID(ctx), middleware.GetOperationName(ctx)))
			return next.HandleInitialize(ctx, in)
		}), middleware.Before)
}
