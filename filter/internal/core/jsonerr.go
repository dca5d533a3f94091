package core

import (
	"encoding/json"
	"strconv"
)

// jsonErrorAt describes where body stops being JSON. It runs only for
// invalid bodies, so the reflection-based decoder is acceptable here.
func jsonErrorAt(body []byte) string {
	var v json.RawMessage
	err := json.Unmarshal(body, &v)
	if se, ok := err.(*json.SyntaxError); ok {
		return se.Error() + " at byte offset " + strconv.FormatInt(se.Offset, 10)
	}
	if err != nil {
		return err.Error()
	}
	return "invalid JSON"
}
