package dynamodb

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// TableClient is the part of the DynamoDB API [CreateTable] calls.
type TableClient interface {
	CreateTable(context.Context, *ddb.CreateTableInput, ...func(*ddb.Options)) (*ddb.CreateTableOutput, error)
	DescribeTable(context.Context, *ddb.DescribeTableInput, ...func(*ddb.Options)) (*ddb.DescribeTableOutput, error)
	UpdateTimeToLive(context.Context, *ddb.UpdateTimeToLiveInput, ...func(*ddb.Options)) (*ddb.UpdateTimeToLiveOutput, error)
}

// CreateTable creates a table with the layout of the package
// documentation (on-demand billing, both indexes, TTL on "ttl"), waits
// until it is active and turns TTL on. It is for tests and for setups
// without CloudFormation; the example broker ships the same table as a
// CloudFormation template. A table that exists already is an error.
func CreateTable(ctx context.Context, c TableClient, name string) error {
	keys := func(hash, rng string) []types.KeySchemaElement {
		return []types.KeySchemaElement{{AttributeName: aws.String(hash), KeyType: types.KeyTypeHash}, {AttributeName: aws.String(rng), KeyType: types.KeyTypeRange}}
	}
	_, err := c.CreateTable(ctx, &ddb.CreateTableInput{
		TableName:   aws.String(name),
		BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String(attrKey), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String(attrInFlight), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String(attrTomb), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String(attrExpires), AttributeType: types.ScalarAttributeTypeN},
		},
		KeySchema: []types.KeySchemaElement{{AttributeName: aws.String(attrKey), KeyType: types.KeyTypeHash}},
		GlobalSecondaryIndexes: []types.GlobalSecondaryIndex{
			{IndexName: aws.String(indexInFlight), KeySchema: keys(attrInFlight, attrKey),
				Projection: &types.Projection{ProjectionType: types.ProjectionTypeKeysOnly}},
			{IndexName: aws.String(indexTombstones), KeySchema: keys(attrTomb, attrExpires),
				Projection: &types.Projection{ProjectionType: types.ProjectionTypeKeysOnly}},
		},
	})
	if err != nil {
		return fmt.Errorf("dynamodb store: creating table %s: %w", name, err)
	}
	for {
		out, err := c.DescribeTable(ctx, &ddb.DescribeTableInput{TableName: aws.String(name)})
		if err != nil {
			return fmt.Errorf("dynamodb store: waiting for table %s: %w", name, err)
		}
		if out.Table != nil && out.Table.TableStatus == types.TableStatusActive {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
	_, err = c.UpdateTimeToLive(ctx, &ddb.UpdateTimeToLiveInput{TableName: aws.String(name),
		TimeToLiveSpecification: &types.TimeToLiveSpecification{AttributeName: aws.String(attrTTL), Enabled: aws.Bool(true)}})
	if err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("dynamodb store: turning on TTL of table %s: %w", name, err)
	}
	return err
}
