package catalog_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/brokerkit/brokerkit/catalog"
)

// queueService is a two-plan service whose outputs are QueueURL and
// QueueARN, with extra lines at the end of its specification.
func queueService(specExtra string) string {
	return `Description: A queue
Metadata:
  AWS::ServiceBroker::Specification:
    Name: queue
    ServicePlans:
      small:
        Description: A small queue
      large:
        Description: A large queue
` + indent(specExtra, "    ") + `Resources:
  Queue:
    Type: AWS::SQS::Queue
Outputs:
  QueueURL:
    Value: !Ref Queue
  QueueARN:
    Value: !GetAtt Queue.Arn
`
}

// queueBinding is a binding template: an IAM user allowed to send to the
// queue whose ARN is its parameter.
const queueBinding = `Parameters:
  QueueARN:
    Type: String
Resources:
  User:
    Type: AWS::IAM::User
  Policy:
    Type: AWS::IAM::Policy
    Properties:
      PolicyName: send
      Users: [!Ref User]
      PolicyDocument:
        Statement:
        - {Effect: Allow, Action: sqs:SendMessage, Resource: !Ref QueueARN}
Outputs:
  UserName:
    Value: !Ref User
  UserARN:
    Value: !GetAtt User.Arn
`

// TestLoadTemplatesBindingTemplate checks that a service's BindingTemplate
// is loaded for each of its plans and that the file in a subdirectory is
// not a service.
func TestLoadTemplatesBindingTemplate(t *testing.T) {
	t.Parallel()
	set, err := catalog.LoadTemplates(mapFS(
		"queue.yaml", queueService("BindingTemplate: bindings/queue.yaml\n"),
		"bindings/queue.yaml", queueBinding,
		"zz.yaml", minimal,
	), catalog.TemplateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Warnings) > 0 {
		t.Errorf("warnings: %q", set.Warnings)
	}
	var names []string
	for _, s := range set.Catalog.Services {
		names = append(names, s.Name)
	}
	if diff := cmp.Diff([]string{"queue", "test"}, names); diff != "" {
		t.Errorf("services (-want +got); the binding template must not be one:\n%s", diff)
	}
	queue := set.Catalog.Services[0]
	if len(set.BindingTemplates) != len(queue.Plans) {
		t.Errorf("%d binding templates, want one per plan of queue (%d); the other service has none", len(set.BindingTemplates), len(queue.Plans))
	}
	for _, p := range queue.Plans {
		bt := set.BindingTemplates[p.ID]
		if bt == nil {
			t.Fatalf("plan %s has no binding template", p.Name)
		}
		want := &catalog.Template{
			File: "bindings/queue.yaml", ServiceName: "queue", PlanName: p.Name,
			Body:         queueBinding,
			ID:           "sha256:" + sha256Hex(queueBinding),
			Parameters:   map[string]catalog.TemplateParameter{"QueueARN": {Type: "String"}},
			Capabilities: []string{"CAPABILITY_IAM"},
			Outputs:      []string{"UserName", "UserARN"},
		}
		if diff := cmp.Diff(want, bt); diff != "" {
			t.Errorf("binding template of plan %s (-want +got):\n%s", p.Name, diff)
		}
		if set.Templates[p.ID].File != "queue.yaml" {
			t.Errorf("plan %s's own template is %s", p.Name, set.Templates[p.ID].File)
		}
	}
	// The plans' templates share no memory.
	small, large := set.BindingTemplates[queue.Plans[0].ID], set.BindingTemplates[queue.Plans[1].ID]
	small.Capabilities[0] = "changed"
	small.Parameters["QueueARN"] = catalog.TemplateParameter{Type: "Number"}
	if large.Capabilities[0] != "CAPABILITY_IAM" || large.Parameters["QueueARN"].Type != "String" {
		t.Error("the binding templates of two plans share memory")
	}
}

// TestLoadTemplatesBindingTemplateErrors checks that every problem of a
// binding template names the file and the field: the service's for the
// reference, the binding template's for its content.
func TestLoadTemplatesBindingTemplateErrors(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		reason string
		files  []string
		want   string
	}{
		{
			reason: "a binding parameter must be an instance output",
			files: []string{"queue.yaml", queueService("BindingTemplate: bindings/queue.yaml\n"),
				"bindings/queue.yaml", strings.Replace(queueBinding, "QueueARN:\n    Type: String\n", "QueueARN:\n    Type: String\n  TopicARN:\n    Type: String\n", 1)},
			want: "catalog: bindings/queue.yaml: Parameters.TopicARN: not an output of queue.yaml's template: " +
				"a binding template's parameters are filled from the instance's outputs (QueueURL, QueueARN)",
		},
		{
			reason: "a service without outputs can have no binding parameter",
			files: []string{"t.yaml", withSpec("", "BindingTemplate: b/t.yaml\n", ""),
				"b/t.yaml", queueBinding},
			want: "catalog: b/t.yaml: Parameters.QueueARN: not an output of t.yaml's template: " +
				"a binding template's parameters are filled from the instance's outputs ()",
		},
		{
			reason: "a binding template that is not there names the service's file and field",
			files:  []string{"queue.yaml", queueService("BindingTemplate: bindings/nope.yaml\n")},
			want:   `catalog: queue.yaml: Metadata.AWS::ServiceBroker::Specification.BindingTemplate: "bindings/nope.yaml" does not exist in the templates directory`,
		},
		{
			reason: "a path out of the directory is refused",
			files:  []string{"queue.yaml", queueService("BindingTemplate: ../bindings/queue.yaml\n")},
			want: `catalog: queue.yaml: Metadata.AWS::ServiceBroker::Specification.BindingTemplate: "../bindings/queue.yaml" is not a path inside the templates directory ` +
				`(slash-separated and relative, without "." or ".." elements)`,
		},
		{
			reason: "an absolute path is refused",
			files:  []string{"queue.yaml", queueService("BindingTemplate: /etc/passwd.yaml\n")},
			want: `catalog: queue.yaml: Metadata.AWS::ServiceBroker::Specification.BindingTemplate: "/etc/passwd.yaml" is not a path inside the templates directory ` +
				`(slash-separated and relative, without "." or ".." elements)`,
		},
		{
			reason: "a binding template is a template file",
			files:  []string{"queue.yaml", queueService("BindingTemplate: bindings/queue.txt\n"), "bindings/queue.txt", queueBinding},
			want:   `catalog: queue.yaml: Metadata.AWS::ServiceBroker::Specification.BindingTemplate: "bindings/queue.txt" is not a *.yaml, *.yml or *.json file`,
		},
		{
			reason: "BindingTemplate is a plain value",
			files:  []string{"queue.yaml", queueService("BindingTemplate: [a.yaml]\n")},
			want:   `catalog: queue.yaml: Metadata.AWS::ServiceBroker::Specification.BindingTemplate: must be a plain value, not a list`,
		},
		{
			reason: "a binding template's own problems name its file",
			files: []string{"queue.yaml", queueService("BindingTemplate: bindings/queue.yaml\n"),
				"bindings/queue.yaml", "Parameters:\n  QueueARN:\n    Type: Strin\nResources:\n  User:\n    Type: AWS::IAM::User\n"},
			want: `catalog: bindings/queue.yaml: Parameters.QueueARN.Type: "Strin" is not a CloudFormation parameter type`,
		},
		{
			reason: "a binding template needs Resources",
			files: []string{"queue.yaml", queueService("BindingTemplate: bindings/queue.json\n"),
				"bindings/queue.json", `{"Parameters": {"QueueARN": {"Type": "String"}}}`},
			want: `catalog: bindings/queue.json: Resources: missing`,
		},
		{
			reason: "a binding template that does not parse names its file",
			files: []string{"queue.yaml", queueService("BindingTemplate: bindings/queue.yaml\n"),
				"bindings/queue.yaml", "Resources: [\n"},
			want: `catalog: bindings/queue.yaml: not valid YAML: yaml: line 2: did not find expected node content`,
		},
	} {
		_, err := catalog.LoadTemplates(mapFS(tt.files...), catalog.TemplateOptions{})
		var te catalog.TemplateErrors
		if !errors.As(err, &te) {
			t.Errorf("%s: error %v, want TemplateErrors", tt.reason, err)
			continue
		}
		if got := err.Error(); got != tt.want {
			t.Errorf("%s:\n got %s\nwant %s", tt.reason, got, tt.want)
		}
	}
}

// TestLoadTemplatesTargetParameters checks that TargetParameters adds the
// two optional target properties to every create schema, and only there.
func TestLoadTemplatesTargetParameters(t *testing.T) {
	t.Parallel()
	fsys := mapFS("t.yaml", withSpec("", "UpdatableParameters: [Size]\n", "Size:\n  Type: Number\n  Default: 1\n"))
	for _, tt := range []struct {
		reason string
		opts   catalog.TemplateOptions
		params string
		valid  bool
	}{
		{"without the option, the schema refuses an account", catalog.TemplateOptions{}, `{"target_account_id": "111111111111"}`, false},
		{"an account and a role", catalog.TemplateOptions{TargetParameters: true}, `{"target_account_id": "111111111111", "target_role_name": "broker-target"}`, true},
		{"both are optional", catalog.TemplateOptions{TargetParameters: true}, `{"Size": 2}`, true},
		{"an account is 12 digits", catalog.TemplateOptions{TargetParameters: true}, `{"target_account_id": "12345"}`, false},
		{"an account is a string", catalog.TemplateOptions{TargetParameters: true}, `{"target_account_id": 111111111111}`, false},
		{"a role name has IAM's characters", catalog.TemplateOptions{TargetParameters: true}, `{"target_account_id": "111111111111", "target_role_name": "a/b"}`, false},
	} {
		set, err := catalog.LoadTemplates(fsys, tt.opts)
		if err != nil {
			t.Fatalf("%s: %v", tt.reason, err)
		}
		idx, err := catalog.NewIndex(set.Catalog)
		if err != nil {
			t.Fatalf("%s: %v", tt.reason, err)
		}
		plan := set.Catalog.Services[0].Plans[0]
		err = idx.ValidateParameters(plan.ID, catalog.InstanceCreate, json.RawMessage(tt.params))
		if (err == nil) != tt.valid {
			t.Errorf("%s: ValidateParameters(%s) = %v, want valid %t", tt.reason, tt.params, err, tt.valid)
		}
		update := plan.Schemas.ServiceInstance.Update.Parameters["properties"].(map[string]any)
		if _, ok := update["target_account_id"]; ok {
			t.Errorf("%s: the update schema lets a user move the instance: %v", tt.reason, update)
		}
	}
}

// sha256Hex is the hex SHA-256 of s.
func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}
