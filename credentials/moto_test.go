package credentials_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/brokerkit/brokerkit/credentials"
	"github.com/brokerkit/brokerkit/internal/mototest"
)

func TestMain(m *testing.M) { mototest.Main(m) }

// motoSource is a Source whose base identity is moto's default account,
// 123456789012, with the real STS client.
func motoSource(t *testing.T) *credentials.Source {
	t.Helper()
	endpoint := mototest.Endpoint(t)
	src, err := credentials.New(credentials.Options{Base: mototest.Config(t, endpoint)})
	if err != nil {
		t.Fatal(err)
	}
	return src
}

func TestMotoCrossAccount(t *testing.T) {
	t.Parallel()
	src := motoSource(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	base, err := src.Check(ctx)
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	if base.Account != "123456789012" {
		t.Errorf("base account = %q, want moto's default 123456789012", base.Account)
	}

	target := credentials.Target{AccountID: "111111111111", RoleName: "brokerkit-test", ExternalID: "ext-moto-1", Region: mototest.Region, SessionName: "moto-session"}
	id, err := src.CallerIdentity(ctx, target)
	if err != nil {
		t.Fatalf("CallerIdentity(%v): %v", target, err)
	}
	if id.Account != "111111111111" {
		t.Errorf("assumed account = %q, want 111111111111", id.Account)
	}
	if want := "arn:aws:sts::111111111111:assumed-role/brokerkit-test/moto-session"; id.ARN != want {
		t.Errorf("assumed ARN = %q, want %q", id.ARN, want)
	}

	// A queue created with the target's configuration lives in the target
	// account, and the broker's own account does not see it.
	name := fmt.Sprintf("credentials-test-%d", time.Now().UnixNano())
	cfg, err := src.Config(ctx, target)
	if err != nil {
		t.Fatal(err)
	}
	out, err := sqs.NewFromConfig(cfg).CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name)})
	if err != nil {
		t.Fatalf("CreateQueue with the target config: %v", err)
	}
	if url := aws.ToString(out.QueueUrl); !strings.Contains(url, "/111111111111/") {
		t.Errorf("QueueUrl = %q, want one in account 111111111111", url)
	}
	baseCfg, err := src.Config(ctx, credentials.Target{})
	if err != nil {
		t.Fatal(err)
	}
	list, err := sqs.NewFromConfig(baseCfg).ListQueues(ctx, &sqs.ListQueuesInput{QueueNamePrefix: aws.String(name)})
	if err != nil {
		t.Fatalf("ListQueues with the base config: %v", err)
	}
	if len(list.QueueUrls) != 0 {
		t.Errorf("the base account sees %v, want no queue named %s", list.QueueUrls, name)
	}
	list, err = sqs.NewFromConfig(cfg).ListQueues(ctx, &sqs.ListQueuesInput{QueueNamePrefix: aws.String(name)})
	if err != nil {
		t.Fatalf("ListQueues with the target config: %v", err)
	}
	if len(list.QueueUrls) != 1 {
		t.Errorf("the target account sees %v, want the queue %s", list.QueueUrls, name)
	}
}

func TestMotoAssumedCredentials(t *testing.T) {
	t.Parallel()
	src := motoSource(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg, err := src.Config(ctx, credentials.Target{RoleARN: "arn:aws:iam::222222222222:role/path/broker", Region: mototest.Region, Duration: 20 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	creds, err := cfg.Credentials.Retrieve(ctx)
	if err != nil {
		t.Fatalf("Retrieve: %v", err)
	}
	if !creds.CanExpire || creds.SessionToken == "" || creds.AccessKeyID == "AKIAMOTOTEST" {
		t.Errorf("credentials are not an assumed session: expires=%v token set=%v key=%s", creds.CanExpire, creds.SessionToken != "", creds.AccessKeyID)
	}
	if left := time.Until(creds.Expires); left > 20*time.Minute || left < 15*time.Minute {
		t.Errorf("session expires in %v, want about 20m minus the expiry window", left)
	}
	again, err := src.Config(ctx, credentials.Target{RoleARN: "arn:aws:iam::222222222222:role/path/broker", Region: mototest.Region, Duration: 20 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	creds2, err := again.Credentials.Retrieve(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if creds2.AccessKeyID != creds.AccessKeyID {
		t.Errorf("a second Config of the same target assumed the role again: %s then %s", creds.AccessKeyID, creds2.AccessKeyID)
	}
}
