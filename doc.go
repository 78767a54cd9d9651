// Package brokerkit is a toolkit for Open Service Broker (OSB) API brokers
// and platform controllers that provision AWS services through
// CloudFormation.
//
// The module is a set of packages, each one concept:
//
//   - [github.com/brokerkit/brokerkit/catalog]: services, plans, JSON
//     Schemas and maintenance info; validation; O(1) lookups; parameter
//     validation with errors that name fields but never echo values; a
//     loader for AWS Service Broker CloudFormation templates.
//   - [github.com/brokerkit/brokerkit/broker]: the OSB API v2.17 as an
//     [net/http.Handler] driving a small typed interface a broker author
//     implements; broker.Tracked runs instances through a provisioner.
//   - [github.com/brokerkit/brokerkit/broker/brokertest]: what a platform
//     does, for tests: a typed OSB client with polling helpers, a
//     conformance suite any broker can run, and an in-memory reference
//     backend.
//   - [github.com/brokerkit/brokerkit/provisioner]: the Provisioner
//     interface and the Tracker, which records every operation before the
//     backend call, polls in the background and survives restarts.
//   - [github.com/brokerkit/brokerkit/provisioner/store]: stores with
//     compare-and-swap (memory, bbolt) and their contract suite.
//   - [github.com/brokerkit/brokerkit/provisioner/cloudformation]: the
//     CloudFormation provisioner on aws-sdk-go-v2.
//   - [github.com/brokerkit/brokerkit/provisioner/provisionertest]: a
//     scripted fake CloudFormation endpoint for tests.
//   - [github.com/brokerkit/brokerkit/binding]: stack outputs to
//     credentials to secrets (OSB, Kubernetes, servicebinding.io).
//   - [github.com/brokerkit/brokerkit/credentials]: the broker's own AWS
//     credentials, per target account and region.
//
// Imports point from the HTTP edge inward: broker uses provisioner, which
// uses catalog; catalog imports nothing of brokerkit's; no library package
// imports broker. The examples folder holds runnable programs: the AWS
// broker, an OSB command-line client, the demo, and integration tests.
package brokerkit
