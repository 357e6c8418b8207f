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

// Package controller holds the reconcilers of CRMConnection, FieldMapping and SyncJob.
package controller

import (
	"fmt"

	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/crmsync/crmsync/internal/connections"
	"github.com/crmsync/crmsync/internal/state"
)

// Options tune every reconciler that SetupAll registers. The zero value is valid.
type Options struct {
	// MaxConcurrentReconciles is how many objects of one kind reconcile at once. Zero means 1.
	MaxConcurrentReconciles int
	// Connections holds the live connection of every CRMConnection. Nil gets a registry with no metrics.
	Connections *connections.Registry
	// StateStore is the durable sync state; the SyncJob controller requires it.
	StateStore state.Store
	// SQLiteDir holds the application databases of SQLite endpoints that name no Secret.
	SQLiteDir string
	// MaxConcurrentSyncs is the size of the worker pool that runs SyncJobs; 0 means 4.
	MaxConcurrentSyncs int
	// SyncMetrics records sync runs; nil records nothing.
	SyncMetrics *SyncMetrics
}

// SetupAll registers the CRMConnection, FieldMapping and SyncJob reconcilers with mgr. The manager's
// scheme must include the crm.crmsync.io/v1alpha1 types. Events are recorded with mgr.GetEventRecorder.
func SetupAll(mgr ctrl.Manager, opts Options) error {
	if opts.Connections == nil {
		opts.Connections = &connections.Registry{Logger: mgr.GetLogger().WithName("connections")}
	}
	setups := []struct {
		kind  string
		setup func(ctrl.Manager, Options) error
	}{
		{"CRMConnection", (&CRMConnectionReconciler{}).SetupWithManager},
		{"FieldMapping", (&FieldMappingReconciler{}).SetupWithManager},
		{"SyncJob", (&SyncJobReconciler{}).SetupWithManager},
	}
	for _, s := range setups {
		if err := s.setup(mgr, opts); err != nil {
			return fmt.Errorf("set up %s controller: %w", s.kind, err)
		}
	}
	return nil
}
