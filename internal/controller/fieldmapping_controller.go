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

package controller

import (
	"context"
	"fmt"
	"time"

	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"

	crmv1 "github.com/crmsync/crmsync/api/v1alpha1"
	"github.com/crmsync/crmsync/internal/mapping"
)

// FieldMappingReconciler reconciles FieldMappings: it compiles the mapping over the built-in defaults and
// reports every problem at once. The check against the CRM's live field metadata needs a connection, so
// the SyncJob that uses the mapping runs it before each sync.
type FieldMappingReconciler struct {
	// Client defaults to the manager's client.
	Client client.Client
	// Recorder defaults to the manager's events.k8s.io recorder.
	Recorder events.EventRecorder

	loop *loop[*crmv1.FieldMapping]
}

// +kubebuilder:rbac:groups=crm.crmsync.io,resources=fieldmappings,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=crm.crmsync.io,resources=fieldmappings/status,verbs=get;patch
// +kubebuilder:rbac:groups=crm.crmsync.io,resources=fieldmappings/finalizers,verbs=update
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile brings one FieldMapping towards its spec and reports what it found in its status.
func (r *FieldMappingReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	return r.loop.reconcile(ctx, req)
}

// phases are the steps of a FieldMapping reconcile.
func (r *FieldMappingReconciler) phases() []phase[*crmv1.FieldMapping] {
	return []phase[*crmv1.FieldMapping]{compileFieldMapping}
}

// compileFieldMapping compiles the mapping. A mapping with problems is Stalled with every problem listed:
// only an edit of the FieldMapping can fix it.
func compileFieldMapping(_ context.Context, s *scope[*crmv1.FieldMapping]) (phaseResult, error) {
	m, err := mapping.Compile(mappingSpecFrom(s.obj))
	if err != nil {
		s.obj.Status.ResolvedFields = 0
		return phaseResult{}, stall(crmv1.ReasonInvalidConfiguration, fmt.Errorf("fix spec.fields: %w", err))
	}
	s.obj.Status.ResolvedFields = int32(m.Len())
	return phaseResult{}, nil
}

// mappingSpecFrom converts the API type into the mapping package's input.
func mappingSpecFrom(fm *crmv1.FieldMapping) mapping.MappingSpec {
	spec := mapping.MappingSpec{
		Provider:        string(fm.Spec.Provider),
		Object:          string(fm.Spec.Object),
		RemoteObject:    fm.Spec.RemoteObject,
		InheritDefaults: fm.Spec.InheritDefaults == nil || *fm.Spec.InheritDefaults,
	}
	for _, f := range fm.Spec.Fields {
		fs := mapping.FieldSpec{Name: f.Name, RemoteName: f.RemoteName, Type: string(f.Type), ReadOnly: f.ReadOnly, Required: f.Required}
		if len(f.Values) > 0 {
			fs.Values = make(map[string]string, len(f.Values))
			for k, v := range f.Values {
				fs.Values[k] = string(v)
			}
		}
		spec.Fields = append(spec.Fields, fs)
	}
	return spec
}

// SetupWithManager registers the reconciler with mgr.
func (r *FieldMappingReconciler) SetupWithManager(mgr ctrl.Manager, opts Options) error {
	if r.Client == nil {
		r.Client = mgr.GetClient()
	}
	if r.Recorder == nil {
		r.Recorder = mgr.GetEventRecorder("crmsync-fieldmapping")
	}
	r.loop = &loop[*crmv1.FieldMapping]{
		client:    r.Client,
		recorder:  r.Recorder,
		now:       time.Now,
		kind:      "FieldMapping",
		newObject: func() *crmv1.FieldMapping { return &crmv1.FieldMapping{} },
		status:    func(o *crmv1.FieldMapping) *crmv1.ReconcileStatus { return &o.Status.ReconcileStatus },
		suspended: func(*crmv1.FieldMapping) bool { return false },
		phases:    r.phases(),
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&crmv1.FieldMapping{}, reconcileTriggers()).
		Named("fieldmapping").
		WithOptions(controller.Options{MaxConcurrentReconciles: opts.MaxConcurrentReconciles}).
		Complete(r)
}
