// Package catalog models the catalog of an Open Service Broker (OSB API
// v2.17), checks it against the spec, and validates request parameters
// against its plans' JSON Schemas.
//
// A [Catalog] is the body of GET /v2/catalog: the [Service] offerings a
// broker sells, each with one or more [Plan]s. Its JSON form uses exactly
// the spec's field names. Build it as a Go literal (or decode it from
// JSON or YAML):
//
//	c := catalog.Catalog{Services: []catalog.Service{{
//		ID: "7c9d…", Name: "sqs", Description: "Amazon SQS queues", Bindable: true,
//		Plans: []catalog.Plan{{
//			ID: "a1b2…", Name: "standard", Description: "A standard queue",
//			Schemas: &catalog.Schemas{ServiceInstance: &catalog.ServiceInstanceSchemas{
//				Create: &catalog.InputParameters{Parameters: catalog.Schema{
//					"$schema": "http://json-schema.org/draft-04/schema#",
//					"type":    "object",
//				}},
//			}},
//		}},
//	}}}
//
// # Validation
//
// [Catalog.Validate] checks the spec's rules (unique non-empty IDs and
// names, CLI-friendly names, descriptions, at least one plan per service,
// known "requires" values, semantic-version maintenance_info, and
// self-contained JSON Schemas of at most 64 kB that compile) and returns
// every problem at once as [ValidationErrors], each a *[ValidationError]
// whose Path names the service, plan and JSON field:
//
//	catalog: services[0] ("sqs").plans[1] ("standard").maintenance_info.version: "1.x" is not a semantic version 2.0
//
// Validate a catalog at startup and refuse to serve one that fails.
//
// # Index
//
// [NewIndex] validates a catalog the same way, deep-copies it and
// compiles its schemas once. The resulting [Index] finds a service or a
// plan by ID in constant time ([Index.Service], [Index.Plan]; plan IDs are
// unique across the catalog, so a plan is found without its service ID)
// and serves the copy to send on GET /v2/catalog ([Index.Catalog]).
//
// [Index.ValidateParameters] checks the "parameters" of a provision,
// update or bind request against the plan's [InstanceCreate],
// [InstanceUpdate] or [BindingCreate] schema. Absent parameters are not
// checked; present ones must be a JSON object. A failure is a
// *[ParameterError] listing each problem by JSON pointer, for a 400
// response. Parameters may carry secrets, so no error quotes a value from
// the request; messages state only the schema's rule:
//
//	parameters do not match the plan's service_instance.create schema: /queue_name: missing property; /retention: must be >= 60
//
// Schemas never load anything from the network or the disk: a schema
// must declare a known draft in "$schema" (draft-04, -06, -07, 2019-09 or
// 2020-12) and refer only to itself ("$ref" values starting with "#").
// "format" is asserted in every draft. Regular expressions use Go's
// RE2 syntax.
//
// # Templates
//
// [LoadTemplates] reads a directory of CloudFormation templates that carry
// the AWS Service Broker's "AWS::ServiceBroker::Specification" metadata,
// exactly as that broker's templates were written, and returns the
// catalog they describe (plan schemas derived from the templates'
// Parameters, stable IDs from the broker ID and names) together with, per
// plan, what a provisioner needs: the body, its parameters, the values
// the plan fixes and the capabilities to acknowledge.
//
// # Concurrency and zero values
//
// An Index is immutable and safe for concurrent use by many goroutines;
// the *Service, *Plan and *Catalog it returns must not be modified. A
// Catalog is a plain value with no synchronisation of its own; NewIndex
// copies it, so changing it afterwards does not affect the Index.
//
// The zero Catalog is a valid, empty catalog. The zero Index holds an
// empty catalog: its lookups find nothing and ValidateParameters reports
// [ErrUnknownPlan].
package catalog
