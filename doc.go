// Package brokerkit is a toolkit for Open Service Broker (OSB) API brokers
// and platform controllers that provision AWS services.
//
// The module is a set of packages, each one concept:
//
//   - [github.com/brokerkit/brokerkit/catalog]: services, plans, JSON
//     Schemas and maintenance info; validation; O(1) lookups; parameter
//     validation with errors that name fields but never echo values.
//   - [github.com/brokerkit/brokerkit/broker]: the OSB API v2.17 as an
//     [net/http.Handler] driving a small typed interface a broker author
//     implements.
//   - [github.com/brokerkit/brokerkit/broker/brokertest]: what a platform
//     does, for tests: a typed OSB client with polling helpers, a
//     conformance suite any broker can run, and an in-memory reference
//     backend.
//
// Imports point from the HTTP edge inward: broker uses catalog; catalog
// imports nothing of brokerkit's; no library package imports broker.
package brokerkit
