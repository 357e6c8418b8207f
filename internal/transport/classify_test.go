package transport

import (
	"net/http"
	"strings"
	"testing"

	"github.com/crmsync/crmsync/internal/crmerr"
)

func TestVendorMessage(t *testing.T) {
	cases := []struct{ reason, body, code, msg string }{
		{"hubspot", `{"status":"error","message":"Property values were not valid","correlationId":"x","category":"VALIDATION_ERROR"}`, "VALIDATION_ERROR", "Property values were not valid"},
		{"salesforce", `[{"message":"Required fields are missing: [LastName]","errorCode":"REQUIRED_FIELD_MISSING","fields":["LastName"]}]`, "REQUIRED_FIELD_MISSING", "Required fields are missing: [LastName]"},
		{"dynamics", `{"error":{"code":"0x80040265","message":"A validation error occurred."}}`, "0x80040265", "A validation error occurred."},
		{"oauth", `{"error":"invalid_grant","error_description":"expired access/refresh token"}`, "invalid_grant", "expired access/refresh token"},
		{"pipedrive", `{"success":false,"error":"unauthorized access","errorCode":401,"error_info":"Please check developers.pipedrive.com"}`, "401", "Please check developers.pipedrive.com"},
		{"zoho", `{"code":"INVALID_TOKEN","details":{},"message":"invalid oauth token","status":"error"}`, "INVALID_TOKEN", "invalid oauth token"},
		{"html", `<html><body>502 Bad Gateway</body></html>`, "", ""},
		{"malformed", `{"message":`, "", ""},
		{"empty", ``, "", ""},
	}
	for _, tc := range cases {
		code, msg := VendorMessage([]byte(tc.body))
		if code != tc.code || msg != tc.msg {
			t.Errorf("%s: VendorMessage = (%q, %q), want (%q, %q)", tc.reason, code, msg, tc.code, tc.msg)
		}
	}
	_, long := VendorMessage([]byte(`{"message":"` + strings.Repeat("é", 600) + `"}`))
	if len(long) > maxMessageLen+len("…") || !strings.HasSuffix(long, "…") {
		t.Errorf("a long message was not cut: %d bytes", len(long))
	}
}

func TestDefaultClassify(t *testing.T) {
	cases := []struct {
		status int
		want   crmerr.Kind
		ok     bool
	}{
		{200, 0, true}, {201, 0, true}, {207, 0, true}, {204, 0, true}, {304, 0, true},
		{400, crmerr.InvalidRecord, false}, {409, crmerr.InvalidRecord, false}, {422, crmerr.InvalidRecord, false},
		{401, crmerr.Auth, false}, {403, crmerr.Auth, false},
		{404, crmerr.Permanent, false}, {410, crmerr.Permanent, false}, {300, crmerr.Permanent, false},
		{408, crmerr.Transient, false}, {500, crmerr.Transient, false}, {503, crmerr.Transient, false},
		{429, crmerr.RateLimited, false},
	}
	for _, tc := range cases {
		e := DefaultClassify("op", tc.status, http.Header{}, nil)
		switch {
		case tc.ok && e != nil:
			t.Errorf("%d: got %v, want success", tc.status, e)
		case !tc.ok && (e == nil || e.Kind != tc.want || e.Status != tc.status || e.Message == ""):
			t.Errorf("%d: got %+v, want %v with a message", tc.status, e, tc.want)
		}
	}
}
