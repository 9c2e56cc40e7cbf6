package libcontainer

import "fmt"

// maxIDLen keeps "<root>/<id>/state.json.tmpXXXX" well inside NAME_MAX.
const maxIDLen = 200

// ValidateID accepts the characters runc accepts: [A-Za-z0-9_.+-], not "." or
// "..", so that an ID is always one safe path element under the state root.
func ValidateID(id string) error {
	if id == "" {
		return fmt.Errorf("%w: empty", ErrInvalidID)
	}
	if len(id) > maxIDLen {
		return fmt.Errorf("%w %q: longer than %d characters", ErrInvalidID, id, maxIDLen)
	}
	if id == "." || id == ".." {
		return fmt.Errorf("%w %q", ErrInvalidID, id)
	}
	for _, r := range id {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case r == '_', r == '.', r == '+', r == '-':
		default:
			return fmt.Errorf("%w %q: only [A-Za-z0-9_.+-] are allowed", ErrInvalidID, id)
		}
	}
	return nil
}
