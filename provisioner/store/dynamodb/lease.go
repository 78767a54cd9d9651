package dynamodb

import (
	"context"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/brokerkit/brokerkit/provisioner"
)

// Claim takes or renews l with one conditional PutItem on the lease's
// item: it succeeds when there is none, when it is l.Owner's, when it
// ended before now or when it is for another operation. When the
// condition fails, a consistent read fills the LeaseHeldError.
func (s *Store) Claim(ctx context.Context, l provisioner.Lease, now time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	item := s.key(s.lease, l.InstanceID)
	item[attrOwner] = str(l.Owner)
	item[attrOp] = str(l.OperationID)
	item[attrUntil] = num(l.Until.UnixNano())
	item[attrTTL] = num(l.Until.Add(s.opts.LeaseGrace).Unix())
	_, err := s.opts.Client.PutItem(ctx, &ddb.PutItemInput{
		TableName:                aws.String(s.opts.Table),
		Item:                     item,
		ConditionExpression:      aws.String("attribute_not_exists(#k) OR #o = :o OR #u < :now OR #op <> :op"),
		ExpressionAttributeNames: map[string]string{"#k": attrKey, "#o": attrOwner, "#u": attrUntil, "#op": attrOp},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":o": str(l.Owner), ":now": num(now.UnixNano()), ":op": str(l.OperationID),
		},
	})
	if err == nil {
		return nil
	}
	if !conditionFailed(err) {
		return s.wrap(ctx, "PutItem lease", l.InstanceID, err)
	}
	held := &provisioner.LeaseHeldError{}
	out, err := s.opts.Client.GetItem(ctx, &ddb.GetItemInput{
		TableName: aws.String(s.opts.Table), Key: s.key(s.lease, l.InstanceID), ConsistentRead: aws.Bool(true),
	})
	if err == nil {
		if o, ok := out.Item[attrOwner].(*types.AttributeValueMemberS); ok {
			held.Owner = o.Value
		}
		if u, ok := out.Item[attrUntil].(*types.AttributeValueMemberN); ok {
			if n, err := strconv.ParseInt(u.Value, 10, 64); err == nil {
				held.Until = time.Unix(0, n).UTC()
			}
		}
	}
	return held
}

// Release deletes owner's lease on instanceID with a DeleteItem
// conditional on the owner.
func (s *Store) Release(ctx context.Context, instanceID, owner string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	_, err := s.opts.Client.DeleteItem(ctx, &ddb.DeleteItemInput{
		TableName: aws.String(s.opts.Table), Key: s.key(s.lease, instanceID),
		ConditionExpression:       aws.String("#o = :o"),
		ExpressionAttributeNames:  map[string]string{"#o": attrOwner},
		ExpressionAttributeValues: map[string]types.AttributeValue{":o": str(owner)},
	})
	if err != nil && !conditionFailed(err) {
		return s.wrap(ctx, "DeleteItem lease", instanceID, err)
	}
	return nil
}
