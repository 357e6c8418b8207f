/*
Copyright 2026 The crmsync Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

// Package syncjob holds the end-to-end tests of SyncJobs: a real API server (envtest) with the CRDs, a
// controller-runtime manager running every crmsync controller with an SQLite state store, the HubSpot and
// Salesforce emulators over HTTP, and a throwaway PostgreSQL server for the application's tables.
//
// The tests act as the people and programs around crmsync: a marketer editing HubSpot in its UI (the
// emulators' admin API), an application writing its own table with plain SQL, and an operator asking for a
// run with the reconcile-request annotation. They judge the outcome against models of their own, never
// against the engine's code.
package syncjob
