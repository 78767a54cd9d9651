package catalog_test

import (
	"fmt"
	"log"
	"os"

	"github.com/brokerkit/brokerkit/catalog"
)

// The AWS Service Broker's templates become a catalog, and each plan's
// template what a CloudFormation provisioner needs
// (cloudformation.TemplatesFrom converts them).
func ExampleLoadTemplates() {
	set, err := catalog.LoadTemplates(os.DirFS("testdata/templates/aws-servicebroker"), catalog.TemplateOptions{
		BrokerID: "example-broker",
	})
	if err != nil {
		log.Fatal(err) // every problem, each naming its file and field
	}
	if _, err := catalog.NewIndex(set.Catalog); err != nil {
		log.Fatal(err)
	}
	for _, s := range set.Catalog.Services {
		for _, p := range s.Plans {
			t := set.Templates[p.ID]
			fmt.Printf("%s/%s: fixes %d, asks for %v, outputs %d\n",
				s.Name, p.Name, len(t.FixedParameters), requiredOf(p.InstanceCreateSchema()), len(t.Outputs))
		}
	}
	// Output:
	// dynamodb/hashrange: fixes 0, asks for [HashAttributeName RangeAttributeName], outputs 4
	// kinesis/default: fixes 0, asks for [], outputs 4
	// kms/default: fixes 0, asks for [], outputs 4
	// s3/production: fixes 9, asks for [], outputs 6
	// s3/custom: fixes 0, asks for [], outputs 6
	// sns/topicwithsub: fixes 2, asks for [], outputs 3
	// sns/topic: fixes 4, asks for [], outputs 3
	// sns/subscription: fixes 1, asks for [], outputs 3
	// sqs/standard: fixes 2, asks for [], outputs 8
	// sqs/fifo: fixes 1, asks for [], outputs 8
}
