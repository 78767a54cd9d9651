package provisionertest_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/google/go-cmp/cmp"

	"github.com/brokerkit/brokerkit/provisioner/provisionertest"
)

func TestCreateCompletesAfterDelay(t *testing.T) {
	t.Parallel()
	clk := newClock()
	f, c := fake(t, provisionertest.Options{Clock: clk.Now, Script: func(op provisionertest.Op) provisionertest.Script {
		return provisionertest.Script{Delay: 5 * time.Minute, Outputs: map[string]string{"QueueURL": "https://sqs/q", "Arn": "arn:q"}}
	}})
	id := create(t, c, "db-1", func(in *cloudformation.CreateStackInput) {
		in.ClientRequestToken = aws.String("tok-1")
		in.Parameters = []types.Parameter{{ParameterKey: aws.String("Size"), ParameterValue: aws.String("small")}}
		in.Tags = []types.Tag{{Key: aws.String("owner"), Value: aws.String("me")}}
		in.Capabilities = []types.Capability{types.CapabilityCapabilityIam}
		in.RoleARN = aws.String("arn:aws:iam::123456789012:role/cfn")
		in.TimeoutInMinutes = aws.Int32(30)
		in.EnableTerminationProtection = aws.Bool(true)
	})
	if !strings.HasPrefix(id, "arn:aws:cloudformation:us-east-1:123456789012:stack/db-1/") || len(id) != len("arn:aws:cloudformation:us-east-1:123456789012:stack/db-1/")+36 {
		t.Errorf("stack ID %q; want arn:aws:cloudformation:us-east-1:123456789012:stack/db-1/UUID", id)
	}

	s := wantStatus(t, c, "db-1", types.StackStatusCreateInProgress, "User Initiated")
	if len(s.Outputs) != 0 {
		t.Errorf("outputs while in progress: %v", s.Outputs)
	}
	clk.Advance(5*time.Minute - time.Second)
	wantStatus(t, c, id, types.StackStatusCreateInProgress, "User Initiated")
	clk.Advance(time.Second)
	s = wantStatus(t, c, "db-1", types.StackStatusCreateComplete, "")

	outputs := map[string]string{}
	for _, o := range s.Outputs {
		outputs[aws.ToString(o.OutputKey)] = aws.ToString(o.OutputValue)
	}
	if diff := cmp.Diff(map[string]string{"QueueURL": "https://sqs/q", "Arn": "arn:q"}, outputs); diff != "" {
		t.Errorf("outputs (-want +got):\n%s", diff)
	}
	if got := aws.ToString(s.StackId); got != id {
		t.Errorf("StackId %q; want %q", got, id)
	}
	if s.CreationTime == nil || !s.CreationTime.Equal(newClock().Now()) {
		t.Errorf("CreationTime %v; want the fake clock's %v", s.CreationTime, newClock().Now())
	}
	if !aws.ToBool(s.EnableTerminationProtection) || aws.ToInt32(s.TimeoutInMinutes) != 30 || aws.ToString(s.RoleARN) != "arn:aws:iam::123456789012:role/cfn" {
		t.Errorf("stack attributes not returned: %+v", s)
	}

	// The fake's own view, for assertions.
	st, ok := f.Stack(id)
	if !ok {
		t.Fatalf("Stack(%s) not found", id)
	}
	want := provisionertest.StackState{
		Name: "db-1", ID: id, Status: "CREATE_COMPLETE", TemplateBody: template,
		Parameters: provisionertest.Parameters{"Size": "small"}, Tags: map[string]string{"owner": "me"},
		Outputs: map[string]string{"QueueURL": "https://sqs/q", "Arn": "arn:q"}, Capabilities: []string{"CAPABILITY_IAM"},
		RoleARN: "arn:aws:iam::123456789012:role/cfn", TerminationProtection: true, TimeoutInMinutes: 30,
		ClientRequestTokens: []string{"tok-1"}, Created: newClock().Now(),
	}
	st.Events = nil
	if diff := cmp.Diff(want, st); diff != "" {
		t.Errorf("Stack (-want +got):\n%s", diff)
	}

	wantEvents := []eventLine{
		{"db-1", "AWS::CloudFormation::Stack", "CREATE_COMPLETE", "", "tok-1"},
		{"db-1", "AWS::CloudFormation::Stack", "CREATE_IN_PROGRESS", "User Initiated", "tok-1"},
	}
	evs := events(t, c, id)
	if diff := cmp.Diff(wantEvents, lines(evs)); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	if got, want := aws.ToTime(evs[0].Timestamp), newClock().Now().Add(5*time.Minute); !got.Equal(want) {
		t.Errorf("CREATE_COMPLETE at %v; want when its delay ended, %v", got, want)
	}
}

func TestCreateFailure(t *testing.T) {
	t.Parallel()
	failed := []provisionertest.ResourceFailure{
		{LogicalID: "Table", Type: "AWS::DynamoDB::Table", Reason: "Resource handler returned message: \"Access denied\""},
		{LogicalID: "Alarm", Type: "AWS::CloudWatch::Alarm"},
	}
	tests := []struct {
		name      string
		reason    string // why this case
		mod       func(*cloudformation.CreateStackInput)
		statuses  []types.StackStatus // after 0, Delay, Delay+RollbackDelay
		reasons   []string
		tail      []eventLine // the events after the resources' *_FAILED ones, oldest first
		deletedAt int         // index in statuses from which the name is gone; 0 for never
	}{{
		name:     "rollback",
		reason:   "the default, OnFailure=ROLLBACK",
		statuses: []types.StackStatus{"CREATE_IN_PROGRESS", "ROLLBACK_IN_PROGRESS", "ROLLBACK_COMPLETE"},
		reasons:  []string{"User Initiated", "The following resource(s) failed to create: [Alarm, Table]. Rollback requested by user.", ""},
		tail: []eventLine{
			{"s", "AWS::CloudFormation::Stack", "ROLLBACK_IN_PROGRESS", "The following resource(s) failed to create: [Alarm, Table]. Rollback requested by user.", "tok"},
			{"Table", "AWS::DynamoDB::Table", "DELETE_COMPLETE", "", "tok"},
			{"Alarm", "AWS::CloudWatch::Alarm", "DELETE_COMPLETE", "", "tok"},
			{"s", "AWS::CloudFormation::Stack", "ROLLBACK_COMPLETE", "", "tok"},
		},
	}, {
		name:     "disable rollback",
		reason:   "DisableRollback keeps the stack in CREATE_FAILED",
		mod:      func(in *cloudformation.CreateStackInput) { in.DisableRollback = aws.Bool(true) },
		statuses: []types.StackStatus{"CREATE_IN_PROGRESS", "CREATE_FAILED", "CREATE_FAILED"},
		reasons:  []string{"User Initiated", "The following resource(s) failed to create: [Alarm, Table]. ", "The following resource(s) failed to create: [Alarm, Table]. "},
		tail: []eventLine{
			{"s", "AWS::CloudFormation::Stack", "CREATE_FAILED", "The following resource(s) failed to create: [Alarm, Table]. ", "tok"},
		},
	}, {
		name:     "do nothing",
		reason:   "OnFailure=DO_NOTHING is DisableRollback's twin",
		mod:      func(in *cloudformation.CreateStackInput) { in.OnFailure = types.OnFailureDoNothing },
		statuses: []types.StackStatus{"CREATE_IN_PROGRESS", "CREATE_FAILED", "CREATE_FAILED"},
		reasons:  []string{"User Initiated", "The following resource(s) failed to create: [Alarm, Table]. ", "The following resource(s) failed to create: [Alarm, Table]. "},
		tail: []eventLine{
			{"s", "AWS::CloudFormation::Stack", "CREATE_FAILED", "The following resource(s) failed to create: [Alarm, Table]. ", "tok"},
		},
	}, {
		name:     "delete",
		reason:   "OnFailure=DELETE deletes the stack: its name is free afterwards",
		mod:      func(in *cloudformation.CreateStackInput) { in.OnFailure = types.OnFailureDelete },
		statuses: []types.StackStatus{"CREATE_IN_PROGRESS", "DELETE_IN_PROGRESS", "DELETE_COMPLETE"},
		reasons:  []string{"User Initiated", "The following resource(s) failed to create: [Alarm, Table]. Delete requested by user.", ""},
		tail: []eventLine{
			{"s", "AWS::CloudFormation::Stack", "DELETE_IN_PROGRESS", "The following resource(s) failed to create: [Alarm, Table]. Delete requested by user.", "tok"},
			{"Table", "AWS::DynamoDB::Table", "DELETE_COMPLETE", "", "tok"},
			{"Alarm", "AWS::CloudWatch::Alarm", "DELETE_COMPLETE", "", "tok"},
			{"s", "AWS::CloudFormation::Stack", "DELETE_COMPLETE", "", "tok"},
		},
		deletedAt: 2,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clk := newClock()
			_, c := fake(t, provisionertest.Options{Clock: clk.Now, Script: func(op provisionertest.Op) provisionertest.Script {
				return provisionertest.Script{Delay: time.Minute, RollbackDelay: 2 * time.Minute, Fail: true, FailedResources: failed}
			}})
			id := create(t, c, "s", func(in *cloudformation.CreateStackInput) {
				in.ClientRequestToken = aws.String("tok")
				if tt.mod != nil {
					tt.mod(in)
				}
			})
			for i, d := range []time.Duration{0, time.Minute, 2 * time.Minute} {
				clk.Advance(d)
				wantStatus(t, c, id, tt.statuses[i], tt.reasons[i])
				_, err := c.DescribeStacks(context.Background(), &cloudformation.DescribeStacksInput{StackName: aws.String("s")})
				if gone := tt.deletedAt != 0 && i >= tt.deletedAt; gone != (err != nil) {
					t.Fatalf("%s: DescribeStacks by name: %v; want gone=%v", tt.statuses[i], err, gone)
				}
			}

			evs := events(t, c, id)
			for i := 1; i < len(evs); i++ {
				if !evs[i-1].Timestamp.After(*evs[i].Timestamp) {
					t.Fatalf("events not newest first: %v then %v", evs[i-1].Timestamp, evs[i].Timestamp)
				}
			}
			// Oldest first, as a reader digging a root cause goes.
			var oldest []eventLine
			for i := len(evs) - 1; i >= 0; i-- {
				oldest = append(oldest, lines(evs[i : i+1])[0])
			}
			want := append([]eventLine{
				{"s", "AWS::CloudFormation::Stack", "CREATE_IN_PROGRESS", "User Initiated", "tok"},
				{"Table", "AWS::DynamoDB::Table", "CREATE_IN_PROGRESS", "", "tok"},
				{"Alarm", "AWS::CloudWatch::Alarm", "CREATE_IN_PROGRESS", "", "tok"},
				{"Table", "AWS::DynamoDB::Table", "CREATE_FAILED", "Resource handler returned message: \"Access denied\"", "tok"},
				{"Alarm", "AWS::CloudWatch::Alarm", "CREATE_FAILED", "Resource creation cancelled", "tok"},
			}, tt.tail...)
			if diff := cmp.Diff(want, oldest); diff != "" {
				t.Errorf("events, oldest first (-want +got):\n%s", diff)
			}
			if got := rootCause(evs); got != "Table: Resource handler returned message: \"Access denied\"" {
				t.Errorf("root cause %q", got)
			}
		})
	}
}

// rootCause is what a provisioner does: the oldest *_FAILED event of a
// resource other than the stack.
func rootCause(newestFirst []types.StackEvent) string {
	for i := len(newestFirst) - 1; i >= 0; i-- {
		e := newestFirst[i]
		if strings.HasSuffix(string(e.ResourceStatus), "_FAILED") && aws.ToString(e.ResourceType) != "AWS::CloudFormation::Stack" {
			return aws.ToString(e.LogicalResourceId) + ": " + aws.ToString(e.ResourceStatusReason)
		}
	}
	return ""
}

func TestUpdate(t *testing.T) {
	t.Parallel()
	clk := newClock()
	_, c := fake(t, provisionertest.Options{Clock: clk.Now, Script: func(op provisionertest.Op) provisionertest.Script {
		switch {
		case op.Action == "UpdateStack" && op.Parameters["Size"] == "broken":
			return provisionertest.Script{Delay: time.Minute, RollbackDelay: time.Minute, CleanupDelay: time.Minute, Fail: true,
				FailedResources: []provisionertest.ResourceFailure{{LogicalID: "Queue", Type: "AWS::SQS::Queue", Reason: "boom"}}}
		case op.Action == "UpdateStack":
			return provisionertest.Script{Delay: time.Minute, CleanupDelay: time.Minute, Outputs: map[string]string{"Size": op.Parameters["Size"]}}
		}
		return provisionertest.Script{Outputs: map[string]string{"Size": op.Parameters["Size"]}}
	}})
	ctx := context.Background()
	param := func(k, v string) types.Parameter {
		return types.Parameter{ParameterKey: aws.String(k), ParameterValue: aws.String(v)}
	}
	keep := func(k string) types.Parameter {
		return types.Parameter{ParameterKey: aws.String(k), UsePreviousValue: aws.Bool(true)}
	}
	id := create(t, c, "u", func(in *cloudformation.CreateStackInput) {
		in.Parameters = []types.Parameter{param("Size", "small"), param("Name", "n")}
	})
	wantStatus(t, c, id, types.StackStatusCreateComplete, "")

	update := func(params ...types.Parameter) error {
		_, err := c.UpdateStack(ctx, &cloudformation.UpdateStackInput{StackName: aws.String("u"), UsePreviousTemplate: aws.Bool(true), Parameters: params})
		return err
	}
	// Unchanged, whether sent again or kept with UsePreviousValue.
	apiError(t, update(param("Size", "small"), param("Name", "n")), "ValidationError", "No updates are to be performed.")
	apiError(t, update(keep("Size"), keep("Name")), "ValidationError", "No updates are to be performed.")
	_, err := c.UpdateStack(ctx, &cloudformation.UpdateStackInput{StackName: aws.String(id), TemplateBody: aws.String(template),
		Parameters: []types.Parameter{keep("Size"), keep("Name")}})
	apiError(t, err, "ValidationError", "No updates are to be performed.")
	apiError(t, update(keep("Nope")), "ValidationError", "")

	// A change goes through UPDATE_IN_PROGRESS and the cleanup phase.
	if err := update(param("Size", "large"), keep("Name")); err != nil {
		t.Fatalf("UpdateStack: %v", err)
	}
	wantStatus(t, c, id, types.StackStatusUpdateInProgress, "User Initiated")
	apiError(t, update(param("Size", "huge"), keep("Name")), "ValidationError", "Stack:"+id+" is in UPDATE_IN_PROGRESS state and can not be updated.")
	clk.Advance(time.Minute)
	wantStatus(t, c, id, types.StackStatusUpdateCompleteCleanupInProgress, "")
	clk.Advance(time.Minute)
	s := wantStatus(t, c, id, types.StackStatusUpdateComplete, "")
	if got := paramsOf(s); !cmp.Equal(got, map[string]string{"Size": "large", "Name": "n"}) {
		t.Errorf("parameters after update: %v", got)
	}
	if s.LastUpdatedTime == nil || !s.LastUpdatedTime.Equal(newClock().Now()) {
		t.Errorf("LastUpdatedTime %v; want the update's start", s.LastUpdatedTime)
	}

	// A failing update rolls back to the previous parameters and outputs.
	if err := update(param("Size", "broken"), keep("Name")); err != nil {
		t.Fatalf("UpdateStack: %v", err)
	}
	clk.Advance(time.Minute)
	wantStatus(t, c, id, types.StackStatusUpdateRollbackInProgress, "The following resource(s) failed to update: [Queue]. ")
	clk.Advance(time.Minute)
	wantStatus(t, c, id, types.StackStatusUpdateRollbackCompleteCleanupInProgress, "")
	clk.Advance(time.Minute)
	s = wantStatus(t, c, id, types.StackStatusUpdateRollbackComplete, "")
	if got := paramsOf(s); !cmp.Equal(got, map[string]string{"Size": "large", "Name": "n"}) {
		t.Errorf("parameters after rollback: %v", got)
	}
	if got := aws.ToString(s.Outputs[0].OutputValue); got != "large" {
		t.Errorf("output after rollback %q; want large", got)
	}
	if got := rootCause(events(t, c, id)); got != "Queue: boom" {
		t.Errorf("root cause %q", got)
	}
	// UPDATE_ROLLBACK_COMPLETE can be updated again.
	if err := update(param("Size", "medium"), keep("Name")); err != nil {
		t.Fatalf("UpdateStack after rollback: %v", err)
	}

	_, err = c.UpdateStack(ctx, &cloudformation.UpdateStackInput{StackName: aws.String("missing"), UsePreviousTemplate: aws.Bool(true)})
	apiError(t, err, "ValidationError", "Stack [missing] does not exist")
}

func paramsOf(s types.Stack) map[string]string {
	out := map[string]string{}
	for _, p := range s.Parameters {
		out[aws.ToString(p.ParameterKey)] = aws.ToString(p.ParameterValue)
	}
	return out
}

func TestUpdateOfRollbackCompleteRefused(t *testing.T) {
	t.Parallel()
	_, c := fake(t, provisionertest.Options{Script: func(op provisionertest.Op) provisionertest.Script {
		return provisionertest.Script{Fail: op.Action == "CreateStack"}
	}})
	id := create(t, c, "rb")
	wantStatus(t, c, "rb", types.StackStatusRollbackComplete, "")
	_, err := c.UpdateStack(context.Background(), &cloudformation.UpdateStackInput{StackName: aws.String("rb"), TemplateBody: aws.String(`{}`)})
	apiError(t, err, "ValidationError", "Stack:"+id+" is in ROLLBACK_COMPLETE state and can not be updated.")
	// The way out is a delete, after which the name is free.
	if _, err := c.DeleteStack(context.Background(), &cloudformation.DeleteStackInput{StackName: aws.String("rb")}); err != nil {
		t.Fatal(err)
	}
	if id2 := create(t, c, "rb"); id2 == id {
		t.Errorf("a new stack of the same name got the old ID %s", id)
	}
}

func TestUpdateTagsAndFinalStatus(t *testing.T) {
	t.Parallel()
	f, c := fake(t, provisionertest.Options{Script: func(op provisionertest.Op) provisionertest.Script {
		if op.Action == "UpdateStack" && op.Attempt == 2 {
			return provisionertest.Script{Fail: true, FinalStatus: "UPDATE_ROLLBACK_FAILED"}
		}
		return provisionertest.Script{}
	}})
	ctx := context.Background()
	id := create(t, c, "tags", func(in *cloudformation.CreateStackInput) {
		in.Tags = []types.Tag{{Key: aws.String("a"), Value: aws.String("1")}}
	})
	// Tags alone make an update.
	_, err := c.UpdateStack(ctx, &cloudformation.UpdateStackInput{StackName: aws.String(id), UsePreviousTemplate: aws.Bool(true),
		Tags: []types.Tag{{Key: aws.String("a"), Value: aws.String("2")}}})
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, c, id, types.StackStatusUpdateComplete, "")
	// An empty list clears them: the SDK sends "Tags=".
	_, err = c.UpdateStack(ctx, &cloudformation.UpdateStackInput{StackName: aws.String(id), UsePreviousTemplate: aws.Bool(true), Tags: []types.Tag{}})
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, c, id, types.StackStatusUpdateRollbackFailed, "The following resource(s) failed to update: [Resource]. ")
	if st, _ := f.Stack(id); st.Tags["a"] != "2" {
		t.Errorf("tags after a rolled-back update %v; want a=2 restored", st.Tags)
	}
	_, err = c.UpdateStack(ctx, &cloudformation.UpdateStackInput{StackName: aws.String(id), UsePreviousTemplate: aws.Bool(true), Tags: []types.Tag{}})
	apiError(t, err, "ValidationError", "Stack:"+id+" is in UPDATE_ROLLBACK_FAILED state and can not be updated.")
}

func TestCancelUpdateStack(t *testing.T) {
	t.Parallel()
	clk := newClock()
	_, c := fake(t, provisionertest.Options{Clock: clk.Now, Script: func(op provisionertest.Op) provisionertest.Script {
		if op.Action == "UpdateStack" {
			return provisionertest.Script{Delay: time.Hour, RollbackDelay: time.Minute}
		}
		return provisionertest.Script{}
	}})
	ctx := context.Background()
	id := create(t, c, "cancel", func(in *cloudformation.CreateStackInput) {
		in.Parameters = []types.Parameter{{ParameterKey: aws.String("P"), ParameterValue: aws.String("old")}}
	})
	_, err := c.CancelUpdateStack(ctx, &cloudformation.CancelUpdateStackInput{StackName: aws.String(id)})
	apiError(t, err, "ValidationError", "CancelUpdateStack cannot be called from current stack status")
	_, err = c.UpdateStack(ctx, &cloudformation.UpdateStackInput{StackName: aws.String(id), UsePreviousTemplate: aws.Bool(true),
		Parameters: []types.Parameter{{ParameterKey: aws.String("P"), ParameterValue: aws.String("new")}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CancelUpdateStack(ctx, &cloudformation.CancelUpdateStackInput{StackName: aws.String(id)}); err != nil {
		t.Fatalf("CancelUpdateStack: %v", err)
	}
	s := wantStatus(t, c, id, types.StackStatusUpdateRollbackInProgress, "Stack update cancelled")
	if got := paramsOf(s)["P"]; got != "old" {
		t.Errorf("parameter during cancel %q; want old", got)
	}
	clk.Advance(time.Minute)
	wantStatus(t, c, id, types.StackStatusUpdateRollbackComplete, "")
}

func TestDelete(t *testing.T) {
	t.Parallel()
	clk := newClock()
	f, c := fake(t, provisionertest.Options{Clock: clk.Now, Script: func(op provisionertest.Op) provisionertest.Script {
		if op.Action == "DeleteStack" {
			// The first delete fails, the next succeeds.
			return provisionertest.Script{Delay: time.Minute, Fail: op.Attempt == 1,
				FailedResources: []provisionertest.ResourceFailure{{LogicalID: "Bucket", Type: "AWS::S3::Bucket", Reason: "The bucket you tried to delete is not empty"}}}
		}
		return provisionertest.Script{}
	}})
	ctx := context.Background()
	del := func(nameOrID string, retain ...string) error {
		_, err := c.DeleteStack(ctx, &cloudformation.DeleteStackInput{StackName: aws.String(nameOrID), RetainResources: retain})
		return err
	}
	if err := del("never-existed"); err != nil {
		t.Fatalf("DeleteStack of a stack that does not exist: %v", err)
	}

	id := create(t, c, "d", func(in *cloudformation.CreateStackInput) { in.EnableTerminationProtection = aws.Bool(true) })
	apiError(t, del("d"), "ValidationError", "Stack [d] cannot be deleted while TerminationProtection is enabled")
	if _, err := c.UpdateTerminationProtection(ctx, &cloudformation.UpdateTerminationProtectionInput{
		StackName: aws.String("d"), EnableTerminationProtection: aws.Bool(false)}); err != nil {
		t.Fatal(err)
	}
	apiError(t, del("d", "Bucket"), "ValidationError", "")

	if err := del("d"); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, c, "d", types.StackStatusDeleteInProgress, "User Initiated")
	if err := del("d"); err != nil { // idempotent while in progress
		t.Fatal(err)
	}
	clk.Advance(time.Minute)
	wantStatus(t, c, "d", types.StackStatusDeleteFailed, "The following resource(s) failed to delete: [Bucket]. ")

	// DELETE_FAILED can be deleted again, retaining the culprit.
	if err := del(id, "Bucket"); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Minute)
	_, err := c.DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String("d")})
	apiError(t, err, "ValidationError", "Stack with id d does not exist")
	s := wantStatus(t, c, id, types.StackStatusDeleteComplete, "")
	if s.DeletionTime == nil || !s.DeletionTime.Equal(clk.Now()) {
		t.Errorf("DeletionTime %v; want %v", s.DeletionTime, clk.Now())
	}
	if err := del("d"); err != nil {
		t.Fatalf("DeleteStack after deletion, by name: %v", err)
	}
	if err := del(id); err != nil {
		t.Fatalf("DeleteStack after deletion, by ID: %v", err)
	}
	evs := events(t, c, id)
	if got := lines(evs[:2]); !cmp.Equal(got, []eventLine{
		{"d", "AWS::CloudFormation::Stack", "DELETE_COMPLETE", "", ""},
		{"Bucket", "AWS::S3::Bucket", "DELETE_SKIPPED", "", ""},
	}) {
		t.Errorf("last events %+v", got)
	}
	_, err = c.DescribeStackEvents(ctx, &cloudformation.DescribeStackEventsInput{StackName: aws.String("d")})
	apiError(t, err, "ValidationError", "Stack [d] does not exist")
	if got := f.Calls()["DeleteStack"]; got != 8 {
		t.Errorf("DeleteStack calls %d; want 8", got)
	}
}

func TestDescribeStacksPaging(t *testing.T) {
	t.Parallel()
	f, c := fake(t, provisionertest.Options{PageSize: 100})
	ctx := context.Background()
	for i := range 250 {
		create(t, c, fmt.Sprintf("s-%03d", i))
	}
	// A deleted stack is skipped by DescribeStacks, kept by ListStacks.
	if _, err := c.DeleteStack(ctx, &cloudformation.DeleteStackInput{StackName: aws.String("s-007")}); err != nil {
		t.Fatal(err)
	}

	var names, pages []string
	p := cloudformation.NewDescribeStacksPaginator(c, &cloudformation.DescribeStacksInput{})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages = append(pages, fmt.Sprint(len(out.Stacks)))
		for _, s := range out.Stacks {
			names = append(names, aws.ToString(s.StackName))
		}
	}
	if got := strings.Join(pages, ","); got != "100,100,49" {
		t.Errorf("page sizes %s; want 100,100,49", got)
	}
	if len(names) != 249 || names[0] != "s-000" || names[7] != "s-008" || names[248] != "s-249" {
		t.Errorf("names: %d, first %q, eighth %q, last %q", len(names), names[0], names[7], names[len(names)-1])
	}
	if got := f.Calls()["DescribeStacks"]; got != 3 {
		t.Errorf("DescribeStacks calls %d; want 3", got)
	}

	var all, deleted int
	lp := cloudformation.NewListStacksPaginator(c, &cloudformation.ListStacksInput{})
	for lp.HasMorePages() {
		out, err := lp.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		all += len(out.StackSummaries)
	}
	lp = cloudformation.NewListStacksPaginator(c, &cloudformation.ListStacksInput{StackStatusFilter: []types.StackStatus{types.StackStatusDeleteComplete}})
	for lp.HasMorePages() {
		out, err := lp.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		deleted += len(out.StackSummaries)
	}
	if all != 250 || deleted != 1 {
		t.Errorf("ListStacks: %d stacks, %d deleted; want 250, 1", all, deleted)
	}

	_, err := c.DescribeStacks(ctx, &cloudformation.DescribeStacksInput{NextToken: aws.String("garbage")})
	apiError(t, err, "ValidationError", "Invalid NextToken")
}

func TestDescribeStackEventsPaging(t *testing.T) {
	t.Parallel()
	var failed []provisionertest.ResourceFailure
	for i := range 120 {
		failed = append(failed, provisionertest.ResourceFailure{LogicalID: fmt.Sprintf("R%03d", i), Type: "AWS::SNS::Topic"})
	}
	_, c := fake(t, provisionertest.Options{PageSize: 100, Script: func(op provisionertest.Op) provisionertest.Script {
		return provisionertest.Script{Fail: true, FailedResources: failed}
	}})
	id := create(t, c, "many")
	evs := events(t, c, id)
	// 1 + 120 in progress, 120 failed, 1 rollback, 120 deleted, 1 complete.
	if len(evs) != 363 {
		t.Fatalf("%d events; want 363", len(evs))
	}
	if evs[0].ResourceStatus != types.ResourceStatus("ROLLBACK_COMPLETE") || evs[362].ResourceStatus != types.ResourceStatusCreateInProgress {
		t.Errorf("first %s, last %s; want ROLLBACK_COMPLETE first, CREATE_IN_PROGRESS last", evs[0].ResourceStatus, evs[362].ResourceStatus)
	}
	if got := rootCause(evs); got != "R000: Scripted failure" {
		t.Errorf("root cause %q", got)
	}
	seen := map[string]bool{}
	for _, e := range evs {
		if seen[aws.ToString(e.EventId)] {
			t.Fatalf("event ID %s twice", aws.ToString(e.EventId))
		}
		seen[aws.ToString(e.EventId)] = true
	}
}

func TestAlreadyExists(t *testing.T) {
	t.Parallel()
	f, c := fake(t, provisionertest.Options{})
	ctx := context.Background()
	in := &cloudformation.CreateStackInput{StackName: aws.String("dup"), TemplateBody: aws.String(template), ClientRequestToken: aws.String("create-1")}
	first, err := c.CreateStack(ctx, in)
	if err != nil {
		t.Fatal(err)
	}

	_, err = c.CreateStack(ctx, &cloudformation.CreateStackInput{StackName: aws.String("dup"), TemplateBody: aws.String(template)})
	var exists *types.AlreadyExistsException
	if !errors.As(err, &exists) {
		t.Fatalf("error %v (%T); want *types.AlreadyExistsException", err, err)
	}
	if got := exists.ErrorMessage(); got != "Stack [dup] already exists" {
		t.Errorf("message %q", got)
	}

	// A retry with the token of the call that created the stack succeeds.
	again, err := c.CreateStack(ctx, in)
	if err != nil {
		t.Fatalf("retried CreateStack with the same token: %v", err)
	}
	if aws.ToString(again.StackId) != aws.ToString(first.StackId) || aws.ToString(again.OperationId) != aws.ToString(first.OperationId) {
		t.Errorf("retry answered %s/%s; want %s/%s", aws.ToString(again.StackId), aws.ToString(again.OperationId),
			aws.ToString(first.StackId), aws.ToString(first.OperationId))
	}
	_, err = c.CreateStack(ctx, &cloudformation.CreateStackInput{StackName: aws.String("dup"), TemplateBody: aws.String(template), ClientRequestToken: aws.String("create-2")})
	if !errors.As(err, &exists) {
		t.Fatalf("another token: %v; want AlreadyExistsException", err)
	}
	if n := len(f.Stacks()); n != 1 {
		t.Errorf("%d stacks; want 1", n)
	}
}

func TestFaultsRetried(t *testing.T) {
	t.Parallel()
	for _, fault := range []*provisionertest.Fault{provisionertest.Throttling(), provisionertest.InternalFailure(), provisionertest.ServiceUnavailable()} {
		t.Run(fault.Code, func(t *testing.T) {
			t.Parallel()
			f, c := fake(t, provisionertest.Options{Fault: func(call provisionertest.Call) *provisionertest.Fault {
				if call.Action == "CreateStack" && call.ActionN == 1 {
					return fault
				}
				return nil
			}})
			create(t, c, "retried")
			if diff := cmp.Diff(map[string]int64{"CreateStack": 2}, f.Calls()); diff != "" {
				t.Errorf("calls (-want +got):\n%s", diff)
			}
			if n := len(f.Stacks()); n != 1 {
				t.Errorf("%d stacks; want 1", n)
			}
		})
	}
}

func TestFaultOnEveryCall(t *testing.T) {
	t.Parallel()
	f, c := fake(t, provisionertest.Options{MaxAttempts: 4, Fault: func(provisionertest.Call) *provisionertest.Fault {
		return provisionertest.Throttling()
	}})
	_, err := c.DescribeStacks(context.Background(), &cloudformation.DescribeStacksInput{StackName: aws.String("x")})
	apiError(t, err, "Throttling", "Rate exceeded")
	if got := f.CallsTotal(); got != 4 {
		t.Errorf("%d calls; want MaxAttempts, 4", got)
	}
}

func TestFaultApplied(t *testing.T) {
	t.Parallel()
	// The first CreateStack takes effect but its answer is a 500: the SDK's
	// retry then meets the stack its first attempt made.
	lost := func(call provisionertest.Call) *provisionertest.Fault {
		if call.Action == "CreateStack" && call.ActionN == 1 {
			f := provisionertest.InternalFailure()
			f.Applied = true
			return f
		}
		return nil
	}
	t.Run("with token", func(t *testing.T) {
		t.Parallel()
		f, c := fake(t, provisionertest.Options{Fault: lost})
		id := create(t, c, "lost", func(in *cloudformation.CreateStackInput) { in.ClientRequestToken = aws.String("t1") })
		if st, _ := f.Stack("lost"); st.ID != id {
			t.Errorf("retry answered %s; the stack is %s", id, st.ID)
		}
	})
	t.Run("without token", func(t *testing.T) {
		t.Parallel()
		_, c := fake(t, provisionertest.Options{Fault: lost})
		_, err := c.CreateStack(context.Background(), &cloudformation.CreateStackInput{StackName: aws.String("lost"), TemplateBody: aws.String(template)})
		var exists *types.AlreadyExistsException
		if !errors.As(err, &exists) {
			t.Fatalf("error %v; want AlreadyExistsException from the retry", err)
		}
	})
}

func TestValidation(t *testing.T) {
	t.Parallel()
	_, c := fake(t, provisionertest.Options{})
	tags := func(n int) []types.Tag {
		var out []types.Tag
		for i := range n {
			out = append(out, types.Tag{Key: aws.String(fmt.Sprint("k", i)), Value: aws.String("v")})
		}
		return out
	}
	tests := []struct {
		name    string
		in      cloudformation.CreateStackInput
		message string // "" for any
	}{
		{"digit first", cloudformation.CreateStackInput{StackName: aws.String("1abc"), TemplateBody: aws.String(template)},
			"1 validation error detected: Value '1abc' at 'stackName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z][-a-zA-Z0-9]*"},
		{"underscore", cloudformation.CreateStackInput{StackName: aws.String("a_b"), TemplateBody: aws.String(template)}, ""},
		{"hyphen first", cloudformation.CreateStackInput{StackName: aws.String("-ab"), TemplateBody: aws.String(template)}, ""},
		{"too long", cloudformation.CreateStackInput{StackName: aws.String("a" + strings.Repeat("b", 128)), TemplateBody: aws.String(template)}, ""},
		{"no template", cloudformation.CreateStackInput{StackName: aws.String("ok")}, "Either Template URL or Template Body must be specified."},
		{"51 tags", cloudformation.CreateStackInput{StackName: aws.String("ok"), TemplateBody: aws.String(template), Tags: tags(51)}, ""},
		{"bad token", cloudformation.CreateStackInput{StackName: aws.String("ok"), TemplateBody: aws.String(template), ClientRequestToken: aws.String("a_b")}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.CreateStack(context.Background(), &tt.in)
			apiError(t, err, "ValidationError", tt.message)
		})
	}
	// The limits themselves are allowed.
	create(t, c, "a"+strings.Repeat("-9", 63)+"x", func(in *cloudformation.CreateStackInput) { in.Tags = tags(50) })
}

func TestRequiredCapabilitiesAndLimit(t *testing.T) {
	t.Parallel()
	f, c := fake(t, provisionertest.Options{RequiredCapabilities: []string{"CAPABILITY_NAMED_IAM"}, StackLimit: 1})
	ctx := context.Background()
	_, err := c.CreateStack(ctx, &cloudformation.CreateStackInput{StackName: aws.String("iam"), TemplateBody: aws.String(template)})
	var caps *types.InsufficientCapabilitiesException
	if !errors.As(err, &caps) || caps.ErrorMessage() != "Requires capabilities : [CAPABILITY_NAMED_IAM]" {
		t.Fatalf("error %v; want InsufficientCapabilitiesException", err)
	}
	withCaps := func(in *cloudformation.CreateStackInput) {
		in.Capabilities = []types.Capability{types.CapabilityCapabilityNamedIam}
	}
	create(t, c, "iam", withCaps)
	_, err = c.CreateStack(ctx, &cloudformation.CreateStackInput{StackName: aws.String("two"), TemplateBody: aws.String(template),
		Capabilities: []types.Capability{types.CapabilityCapabilityNamedIam}})
	var limit *types.LimitExceededException
	if !errors.As(err, &limit) {
		t.Fatalf("error %v; want LimitExceededException", err)
	}
	// The SDK's standard retryer retries LimitExceededException.
	if got := f.Calls()["CreateStack"]; got != 1+1+3 {
		t.Errorf("CreateStack calls %d; want 5 (the quota error tried 3 times)", got)
	}
	if _, err := c.DeleteStack(ctx, &cloudformation.DeleteStackInput{StackName: aws.String("iam")}); err != nil {
		t.Fatal(err)
	}
	create(t, c, "two", withCaps)
}

func TestSetStatus(t *testing.T) {
	t.Parallel()
	f, c := fake(t, provisionertest.Options{Script: func(provisionertest.Op) provisionertest.Script {
		return provisionertest.Script{Delay: time.Hour}
	}})
	for _, status := range types.StackStatus("").Values() {
		t.Run(string(status), func(t *testing.T) {
			name := "st-" + strings.ReplaceAll(strings.ToLower(string(status)), "_", "-")
			id := create(t, c, name)
			if err := f.SetStatus(name, string(status)); err != nil {
				t.Fatal(err)
			}
			wantStatus(t, c, id, status, "")
			_, err := c.DescribeStacks(context.Background(), &cloudformation.DescribeStacksInput{StackName: aws.String(name)})
			if (status == types.StackStatusDeleteComplete) != (err != nil) {
				t.Errorf("DescribeStacks by name: %v", err)
			}
		})
	}
	if err := f.SetStatus("nope", "CREATE_COMPLETE"); !errors.Is(err, provisionertest.ErrNoStack) {
		t.Errorf("SetStatus of an unknown stack: %v", err)
	}
	if err := f.SetStatus("st-create-complete", "DONE"); err == nil {
		t.Error("SetStatus to an unknown status succeeded")
	}
}

func TestConcurrentCreateAndDescribe(t *testing.T) {
	t.Parallel()
	f, c := fake(t, provisionertest.Options{DefaultDelay: 20 * time.Millisecond})
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for g := range 50 {
		wg.Go(func() {
			name := fmt.Sprintf("c-%d", g)
			if _, err := c.CreateStack(ctx, &cloudformation.CreateStackInput{StackName: aws.String(name), TemplateBody: aws.String(template)}); err != nil {
				errs <- err
				return
			}
			// Every goroutine also tries one shared name; exactly one wins.
			_, _ = c.CreateStack(ctx, &cloudformation.CreateStackInput{StackName: aws.String("shared"), TemplateBody: aws.String(template)})
			deadline := time.Now().Add(10 * time.Second)
			for {
				out, err := c.DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String(name)})
				if err != nil {
					errs <- err
					return
				}
				if out.Stacks[0].StackStatus == types.StackStatusCreateComplete {
					return
				}
				if time.Now().After(deadline) {
					errs <- fmt.Errorf("%s still %s", name, out.Stacks[0].StackStatus)
					return
				}
				if _, err := c.DescribeStacks(ctx, &cloudformation.DescribeStacksInput{}); err != nil {
					errs <- err
					return
				}
				time.Sleep(2 * time.Millisecond)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := len(f.Stacks()); n != 51 {
		t.Errorf("%d stacks; want 51", n)
	}
}

func TestParametersRedacted(t *testing.T) {
	t.Parallel()
	p := provisionertest.Parameters{"Password": "hunter2", "Size": "small"}
	for _, s := range []string{fmt.Sprint(p), fmt.Sprintf("%v %+v %#v %s", p, p, p, p)} {
		if strings.Contains(s, "hunter2") || !strings.Contains(s, "Password") {
			t.Errorf("printed %q", s)
		}
	}
}
