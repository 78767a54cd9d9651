package cloudformation

import (
	"context"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	cfn "github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation/types"

	"github.com/brokerkit/brokerkit/provisioner"
)

// maxEventPages bounds the event pages read for one root cause: an
// operation's events are the newest, and a stack with more than this many
// pages of them is rare enough to fall back to the stack's status reason.
const maxEventPages = 10

// cascadeReasons start the reasons of resources that failed only because
// another one did.
var cascadeReasons = []string{
	"Resource creation cancelled",
	"Resource update cancelled",
	"Resource deletion cancelled",
}

// opEvents calls fn with the events of stack stackID that belong to op,
// newest first, until fn returns false or the operation's events are
// behind. An event belongs to op when its ClientRequestToken is op's
// token; when the backend does not echo tokens (the event has none), when
// it is not older than op.CreatedAt. A token of another operation, or an
// event older than op.CreatedAt, ends the walk: events are newest first,
// so all of op's have been seen.
func (s *Stacks) opEvents(ctx context.Context, c API, stackID string, op *provisioner.Operation, fn func(types.StackEvent) bool) error {
	token := clientRequestToken(op.ID, "")
	in := &cfn.DescribeStackEventsInput{StackName: aws.String(stackID)}
	for range maxEventPages {
		out, err := c.DescribeStackEvents(ctx, in)
		if err != nil {
			return err
		}
		for _, e := range out.StackEvents {
			switch t := aws.ToString(e.ClientRequestToken); {
			case t == token:
			case t != "":
				return nil
			case op.CreatedAt.IsZero() || aws.ToTime(e.Timestamp).Before(op.CreatedAt):
				return nil
			}
			if !fn(e) {
				return nil
			}
		}
		if out.NextToken == nil {
			return nil
		}
		in.NextToken = out.NextToken
	}
	return nil
}

// rootCause returns the description of op's failure on stack st: its
// oldest *_FAILED resource event, as "LogicalID (Type): reason", skipping
// the stack's own summary event and the cascade of cancelled resources;
// else the stack's status reason; else a sentence naming the status. A
// read of the events that failed transiently (throttling, 5xx) is an
// error: the failure is observed again later rather than recorded, for
// good, without its cause.
func (s *Stacks) rootCause(ctx context.Context, c API, st *types.Stack, op *provisioner.Operation) (string, error) {
	var oldest *types.StackEvent
	err := s.opEvents(ctx, c, aws.ToString(st.StackId), op, func(e types.StackEvent) bool {
		if isRootCandidate(e, aws.ToString(st.StackName)) {
			oldest = &e
		}
		return true
	})
	if err != nil {
		if isTransient(err) {
			return "", classify(err, "read the events of stack "+aws.ToString(st.StackName), nil)
		}
		s.log.WarnContext(ctx, "reading stack events failed; describing the failure by the stack's status", "stack", aws.ToString(st.StackName), "operation", op.ID, "error", err)
	}
	if oldest != nil {
		return formatEvent(*oldest), nil
	}
	if r := aws.ToString(st.StackStatusReason); r != "" {
		return r, nil
	}
	return "The stack is " + string(st.StackStatus) + ".", nil
}

func isRootCandidate(e types.StackEvent, stackName string) bool {
	if !strings.HasSuffix(string(e.ResourceStatus), "_FAILED") {
		return false
	}
	if aws.ToString(e.LogicalResourceId) == stackName && aws.ToString(e.ResourceType) == "AWS::CloudFormation::Stack" {
		return false
	}
	reason := aws.ToString(e.ResourceStatusReason)
	for _, c := range cascadeReasons {
		if strings.HasPrefix(reason, c) {
			return false
		}
	}
	return true
}

func formatEvent(e types.StackEvent) string {
	s := aws.ToString(e.LogicalResourceId) + " (" + aws.ToString(e.ResourceType) + ")"
	if r := aws.ToString(e.ResourceStatusReason); r != "" {
		return s + ": " + r
	}
	return s + ": " + string(e.ResourceStatus)
}

// failedResources returns the logical IDs of the resources that failed to
// delete in the last delete of stack st (newest events first, up to the
// stack's DELETE_IN_PROGRESS event that started it).
func (s *Stacks) failedResources(ctx context.Context, c API, st *types.Stack) ([]string, error) {
	name := aws.ToString(st.StackName)
	in := &cfn.DescribeStackEventsInput{StackName: st.StackId}
	seen := map[string]bool{}
	var ids []string
	for range maxEventPages {
		out, err := c.DescribeStackEvents(ctx, in)
		if err != nil {
			return nil, err
		}
		for _, e := range out.StackEvents {
			id := aws.ToString(e.LogicalResourceId)
			if id == name && aws.ToString(e.ResourceType) == "AWS::CloudFormation::Stack" {
				if e.ResourceStatus == types.ResourceStatusDeleteInProgress {
					return ids, nil
				}
				continue
			}
			if e.ResourceStatus == types.ResourceStatusDeleteFailed && !seen[id] {
				seen[id] = true
				ids = append(ids, id)
			}
		}
		if out.NextToken == nil {
			break
		}
		in.NextToken = out.NextToken
	}
	return ids, nil
}

// createdBy reports whether stack st was created by op, judged by time:
// the store records op before any call, so a stack created before op was
// recorded belongs to an earlier operation (up to the clock skew between
// the broker and AWS). It is asked only after AlreadyExistsException,
// which a backend that honours ClientRequestToken does not answer to a
// repeat of op's own CreateStack; it guards backends that ignore tokens.
func createdBy(st *types.Stack, op *provisioner.Operation) bool {
	if op.CreatedAt.IsZero() || st.CreationTime == nil {
		return false
	}
	return !st.CreationTime.Before(op.CreatedAt.Add(-clockSkew))
}

// clockSkew is the tolerance of createdBy for the difference between the
// broker's clock and AWS's.
const clockSkew = time.Second
