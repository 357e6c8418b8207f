package hubspot

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// apiError is HubSpot's error body. Every field but status, message and category is optional, as in the
// vendor's own responses.
type apiError struct {
	Status        string              `json:"status"`
	Message       string              `json:"message"`
	CorrelationID string              `json:"correlationId,omitempty"`
	Category      string              `json:"category,omitempty"`
	ErrorType     string              `json:"errorType,omitempty"`
	PolicyName    string              `json:"policyName,omitempty"`
	Context       map[string][]string `json:"context,omitempty"`
	Errors        []errorDetail       `json:"errors,omitempty"`
}

// errorDetail is one entry of an error body's "errors" array.
type errorDetail struct {
	Message string              `json:"message"`
	Code    string              `json:"code,omitempty"`
	Context map[string][]string `json:"context,omitempty"`
}

// propError is one rejected property value.
type propError struct {
	Name    string
	Code    string // INVALID_OPTION, PROPERTY_DOESNT_EXIST, READ_ONLY_VALUE, ...
	Message string
}

// validationMessage renders HubSpot's "Property values were not valid: [...]" message, whose tail is a
// JSON array.
func validationMessage(errs []propError) string {
	type item struct {
		IsValid   bool   `json:"isValid"`
		Message   string `json:"message"`
		Error     string `json:"error"`
		Name      string `json:"name"`
		Localized string `json:"localizedErrorMessage"`
	}
	items := make([]item, len(errs))
	for i, e := range errs {
		items[i] = item{Message: e.Message, Error: e.Code, Name: e.Name, Localized: e.Message}
	}
	b, _ := json.Marshal(items)
	return "Property values were not valid: " + string(b)
}

func validationDetails(errs []propError) []errorDetail {
	out := make([]errorDetail, len(errs))
	for i, e := range errs {
		out[i] = errorDetail{Message: e.Message, Code: e.Code, Context: map[string][]string{"propertyName": {e.Name}}}
	}
	return out
}

func (s *Server) writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func (s *Server) writeError(w http.ResponseWriter, status int, e apiError) {
	if e.Status == "" {
		e.Status = "error"
	}
	if e.CorrelationID == "" {
		e.CorrelationID = s.uuid()
	}
	s.writeJSON(w, status, e)
}

func (s *Server) badRequest(w http.ResponseWriter, format string, args ...any) {
	s.writeError(w, http.StatusBadRequest, apiError{Message: fmt.Sprintf(format, args...), Category: "VALIDATION_ERROR"})
}

func (s *Server) invalidJSON(w http.ResponseWriter, err error) {
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "json: ")
	s.badRequest(w, "Invalid input JSON on line 1: %s", msg)
}

func (s *Server) notFound(w http.ResponseWriter, message string) {
	s.writeError(w, http.StatusNotFound, apiError{Message: message, Category: "OBJECT_NOT_FOUND"})
}
