package salesforce

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/crmsync/crmsync/internal/connectors"
	"github.com/crmsync/crmsync/internal/crmerr"
	"github.com/crmsync/crmsync/internal/transport"
)

var (
	_ connectors.Identifier        = (*Connector)(nil)
	_ connectors.APIVersionChecker = (*Connector)(nil)
)

// retirementHorizon is how many major versions behind the newest a version may fall before it counts as
// near retirement. Salesforce ships three versions a year and supports each for at least three years, so
// a version eight behind has well under a year left.
const retirementHorizon = 8

// instanceURL returns the org's instance, resolving it from the token if needed.
func (c *Connector) instanceURL(ctx context.Context) (string, error) {
	if _, err := c.api(ctx); err != nil {
		return "", err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return strings.TrimSuffix(c.base, "/services/data/"+c.version), nil
}

// Identity calls the OpenID Connect userinfo endpoint: a cheap call that proves the session works and
// names the org and the integration user. It is safe to retry.
func (c *Connector) Identity(ctx context.Context) (connectors.Account, error) {
	instance, err := c.instanceURL(ctx)
	if err != nil {
		return connectors.Account{}, err
	}
	resp, err := c.do(ctx, transport.Request{Op: "read user info", Method: http.MethodGet, URL: instance + "/services/oauth2/userinfo"})
	if err != nil {
		return connectors.Account{}, err
	}
	var info struct {
		OrganizationID    string `json:"organization_id"`
		PreferredUsername string `json:"preferred_username"`
	}
	if err := resp.DecodeJSON(&info); err != nil {
		return connectors.Account{}, err
	}
	if info.OrganizationID == "" {
		return connectors.Account{}, &crmerr.Error{Kind: crmerr.Transient, Provider: Provider, Op: "read user info", Status: resp.Status,
			Code: "MALFORMED_RESPONSE", Message: "userinfo has no organization_id"}
	}
	return connectors.Account{ID: info.OrganizationID, Name: info.PreferredUsername, InstanceURL: instance}, nil
}

// CheckAPIVersion lists the org's API versions (GET /services/data) and compares the version in use with
// the newest. It is safe to retry.
func (c *Connector) CheckAPIVersion(ctx context.Context) (connectors.APIVersionStatus, error) {
	instance, err := c.instanceURL(ctx)
	if err != nil {
		return connectors.APIVersionStatus{}, err
	}
	resp, err := c.do(ctx, transport.Request{Op: "list API versions", Method: http.MethodGet, URL: instance + "/services/data"})
	if err != nil {
		return connectors.APIVersionStatus{}, err
	}
	var versions []struct {
		Version string `json:"version"`
	}
	if err := resp.DecodeJSON(&versions); err != nil {
		return connectors.APIVersionStatus{}, err
	}
	listed := make([]string, 0, len(versions))
	for _, v := range versions {
		listed = append(listed, v.Version)
	}
	return versionStatus(c.version, listed), nil
}

// versionStatus judges inUse ("v66.0") against the listed versions ("66.0"). It is pure.
func versionStatus(inUse string, listed []string) connectors.APIVersionStatus {
	st := connectors.APIVersionStatus{InUse: inUse}
	current, _ := majorVersion(inUse)
	latest := 0
	for _, v := range listed {
		n, ok := majorVersion(v)
		if !ok {
			continue
		}
		if n > latest {
			latest, st.Latest = n, "v"+v
		}
		if "v"+v == inUse {
			st.Available = true
		}
	}
	switch {
	case !st.Available:
		st.Message = fmt.Sprintf("the org no longer offers API %s (newest is %s): set spec.apiVersion to %s or remove it to use the built-in %s", inUse, st.Latest, st.Latest, APIVersion)
	case latest-current >= retirementHorizon:
		st.NearRetirement = true
		st.Message = fmt.Sprintf("API %s is %d versions behind the newest (%s) and Salesforce retires versions about three years after release: move spec.apiVersion forward", inUse, latest-current, st.Latest)
	}
	return st
}

func majorVersion(v string) (int, bool) {
	v = strings.TrimPrefix(v, "v")
	major, _, _ := strings.Cut(v, ".")
	n, err := strconv.Atoi(major)
	return n, err == nil
}
