package credentials_test

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	ststypes "github.com/aws/aws-sdk-go-v2/service/sts/types"

	"github.com/brokerkit/brokerkit/credentials"
)

func Example() {
	// In a broker: base, err := config.LoadDefaultConfig(ctx). Here,
	// fixed keys and a fake STS that shows what it is asked.
	base := credentials.Static("AKIAEXAMPLE", "example-secret", "")
	base.Region = "eu-west-1"
	fake := credentials.AssumeRoleFunc(func(ctx context.Context, in *sts.AssumeRoleInput, _ ...func(*sts.Options)) (*sts.AssumeRoleOutput, error) {
		fmt.Println("AssumeRole", aws.ToString(in.RoleArn), aws.ToString(in.RoleSessionName), aws.ToInt32(in.DurationSeconds))
		return &sts.AssumeRoleOutput{Credentials: &ststypes.Credentials{
			AccessKeyId:     aws.String("ASIAEXAMPLE"),
			SecretAccessKey: aws.String("session-secret"),
			SessionToken:    aws.String("token"),
			Expiration:      aws.Time(time.Now().Add(time.Hour)),
		}}, nil
	})
	src, err := credentials.New(credentials.Options{Base: base, STS: fake})
	if err != nil {
		fmt.Println(err)
		return
	}

	// The caller stores this Target with the instance.
	target := credentials.Target{AccountID: "111111111111", RoleName: "broker", ExternalID: "shared-secret", Region: "us-east-1"}
	fmt.Println(target)

	ctx := context.Background()
	for range 2 { // the second request reuses the session
		cfg, err := src.Config(ctx, target)
		if err != nil {
			fmt.Println(err)
			return
		}
		creds, err := cfg.Credentials.Retrieve(ctx)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(cfg.Region, creds.AccessKeyID)
	}

	_, err = src.Config(ctx, credentials.Target{AccountID: "1111", RoleName: "broker"})
	fmt.Println(err)
	// Output:
	// Target{account=111111111111 role=broker region=us-east-1 external_id=[redacted]}
	// AssumeRole arn:aws:iam::111111111111:role/broker brokerkit 3600
	// us-east-1 ASIAEXAMPLE
	// us-east-1 ASIAEXAMPLE
	// credentials: invalid AccountID: "1111" is not 12 digits
}
