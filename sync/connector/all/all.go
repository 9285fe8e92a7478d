// Package all registers every connector kind: import it for its side effect.
package all

import (
	_ "tandem/sync/connector/carddav"
	_ "tandem/sync/connector/hubspot"
	_ "tandem/sync/connector/vcarddir"
)
