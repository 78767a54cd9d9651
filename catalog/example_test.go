package catalog_test

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/brokerkit/brokerkit/catalog"
)

// exampleCatalog is a one-offering catalog with a provisioning schema.
func exampleCatalog() catalog.Catalog {
	return catalog.Catalog{Services: []catalog.Service{{
		ID:          "5a0c3f49-6b7e-4a7c-9d8c-2f1e3b4c5d6e",
		Name:        "dh-sqs",
		Description: "Amazon SQS queues",
		Bindable:    true,
		Plans: []catalog.Plan{{
			ID:          "9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c6b",
			Name:        "standard",
			Description: "A standard queue",
			Schemas: &catalog.Schemas{ServiceInstance: &catalog.ServiceInstanceSchemas{
				Create: &catalog.InputParameters{Parameters: catalog.Schema{
					"$schema": "http://json-schema.org/draft-04/schema#",
					"type":    "object",
					"properties": map[string]any{
						"queue_name": map[string]any{"type": "string", "pattern": "^[a-z0-9-]+$"},
						"retention":  map[string]any{"type": "integer", "minimum": 60},
					},
					"required":             []any{"queue_name"},
					"additionalProperties": false,
				}},
			}},
			MaintenanceInfo: &catalog.MaintenanceInfo{Version: "1.4.0"},
		}},
	}}}
}

func ExampleNewIndex() {
	x, err := catalog.NewIndex(exampleCatalog())
	if err != nil {
		fmt.Println(err)
		return
	}
	service, plan, ok := x.Plan("9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c6b")
	fmt.Println(ok, service.Name, plan.Name, service.IsBindable(plan), plan.MaintenanceInfo.Version)

	// An invalid catalog is refused with every problem found.
	bad := exampleCatalog()
	bad.Services[0].Plans[0].MaintenanceInfo.Version = "1.x"
	bad.Services[0].Plans = append(bad.Services[0].Plans, catalog.Plan{ID: bad.Services[0].ID, Name: "large"})
	_, err = catalog.NewIndex(bad)
	fmt.Println(err)
	var problems catalog.ValidationErrors
	fmt.Println(errors.As(err, &problems), len(problems))
	// Output:
	// true dh-sqs standard true 1.4.0
	// catalog: services[0] ("dh-sqs").plans[0] ("standard").maintenance_info.version: "1.x" is not a semantic version 2.0
	// catalog: services[0] ("dh-sqs").plans[1] ("large").id: "5a0c3f49-6b7e-4a7c-9d8c-2f1e3b4c5d6e" is already used by services[0] ("dh-sqs")
	// catalog: services[0] ("dh-sqs").plans[1] ("large").description: must not be empty
	// true 3
}

func ExampleIndex_ValidateParameters() {
	x, err := catalog.NewIndex(exampleCatalog())
	if err != nil {
		fmt.Println(err)
		return
	}
	const plan = "9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c6b"
	for _, params := range []string{
		`{"queue_name":"orders","retention":3600}`,
		``, // no parameters: nothing to check
		`{"retention":30,"password":"hunter2"}`,
		`{"queue_name":"Orders!"}`,
	} {
		err := x.ValidateParameters(plan, catalog.InstanceCreate, json.RawMessage(params))
		var pe *catalog.ParameterError
		if errors.As(err, &pe) {
			fmt.Println(len(pe.Problems), "problem(s):", err)
			continue
		}
		fmt.Println("ok:", err == nil)
	}
	// Output:
	// ok: true
	// ok: true
	// 3 problem(s): parameters do not match the plan's service_instance.create schema: /password: property not allowed; /queue_name: missing property; /retention: must be >= 60
	// 1 problem(s): parameters do not match the plan's service_instance.create schema: /queue_name: must match pattern "^[a-z0-9-]+$"
}
