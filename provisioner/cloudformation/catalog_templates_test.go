package cloudformation

import (
	"testing"
	"testing/fstest"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/google/go-cmp/cmp"

	"github.com/brokerkit/brokerkit/catalog"
)

const queueTemplate = `Description: Queues
Metadata:
  AWS::ServiceBroker::Specification:
    Name: queue
    ServicePlans:
      standard:
        Description: A standard queue
        ParameterValues:
          Fifo: 'false'
      fifo:
        Description: A FIFO queue
        ParameterValues:
          Fifo: 'true'
Parameters:
  Fifo:
    Type: String
    AllowedValues: ['true', 'false']
  Retention:
    Type: Number
    Default: 345600
  Password:
    Type: String
    NoEcho: true
    Default: ''
Resources:
  Queue:
    Type: AWS::SQS::Queue
  User:
    Type: AWS::IAM::User
Outputs:
  QueueURL:
    Value: !Ref Queue
`

func TestTemplatesFrom(t *testing.T) {
	set, err := catalog.LoadTemplates(fstest.MapFS{"queue.yaml": {Data: []byte(queueTemplate)}}, catalog.TemplateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	plans := set.Catalog.Services[0].Plans
	params := map[string]ParameterSpec{
		"Fifo":      {Type: "String"},
		"Retention": {Type: "Number"},
		"Password":  {Type: "String", NoEcho: true},
	}
	want := StaticTemplates{
		plans[0].ID: {ID: TemplateID(queueTemplate), Body: queueTemplate, Parameters: params,
			FixedParameters: map[string]string{"Fifo": "false"}, Capabilities: []string{"CAPABILITY_IAM"}},
		plans[1].ID: {ID: TemplateID(queueTemplate), Body: queueTemplate, Parameters: params,
			FixedParameters: map[string]string{"Fifo": "true"}, Capabilities: []string{"CAPABILITY_IAM"}},
	}
	got := TemplatesFrom(set)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("TemplatesFrom (-want +got):\n%s", diff)
	}

	// The plan's fixed value wins over a user's, and the rest pass as
	// declared.
	tmpl, err := got.Template(ctx, set.Catalog.Services[0].ID, plans[1].ID)
	if err != nil {
		t.Fatal(err)
	}
	ps, err := createParameters(tmpl, map[string]any{"Fifo": "false", "Retention": float64(60)})
	if err != nil {
		t.Fatal(err)
	}
	sent := map[string]string{}
	for _, p := range ps.params {
		sent[aws.ToString(p.ParameterKey)] = aws.ToString(p.ParameterValue)
	}
	if diff := cmp.Diff(map[string]string{"Fifo": "true", "Retention": "60"}, sent); diff != "" {
		t.Errorf("parameters sent (-want +got):\n%s", diff)
	}

	// The result shares nothing with the set.
	got[plans[0].ID].FixedParameters["Fifo"] = "changed"
	got[plans[0].ID].Capabilities[0] = "changed"
	if tp := set.Templates[plans[0].ID]; tp.FixedParameters["Fifo"] != "false" || tp.Capabilities[0] != "CAPABILITY_IAM" {
		t.Errorf("changing the result changed the set: %+v", tp)
	}

	if n := len(TemplatesFrom(nil)); n != 0 {
		t.Errorf("TemplatesFrom(nil) has %d templates", n)
	}
}
