package eventscripts

import (
	"fmt"
	"slices"
)

// Event is the first argument a script is called with.
type Event string

// The events, in the order a node's life goes through them.
const (
	Init          Event = "init"
	Setup         Event = "setup"
	Startup       Event = "startup"
	Monitor       Event = "monitor"
	TakeIP        Event = "takeip"
	ReleaseIP     Event = "releaseip"
	UpdateIP      Event = "updateip"
	IPReallocated Event = "ipreallocated"
	StartRecovery Event = "startrecovery"
	Recovered     Event = "recovered"
	Shutdown      Event = "shutdown"
)

var events = []Event{Init, Setup, Startup, Monitor, TakeIP, ReleaseIP, UpdateIP,
	IPReallocated, StartRecovery, Recovered, Shutdown}

// argCount is the number of arguments each event takes:
//
//	takeip|releaseip <iface> <ip> <maskbits>
//	updateip <old-iface> <new-iface> <ip> <maskbits>
func argCount(e Event) int {
	switch e {
	case TakeIP, ReleaseIP:
		return 3
	case UpdateIP:
		return 4
	}
	return 0
}

// Events lists every known event.
func Events() []Event { return slices.Clone(events) }

// ParseEvent returns the event with the given name.
func ParseEvent(name string) (Event, error) {
	if err := knownEvent(Event(name)); err != nil {
		return "", err
	}
	return Event(name), nil
}

func knownEvent(e Event) error {
	if !slices.Contains(events, e) {
		return fmt.Errorf("%w %q", ErrUnknownEvent, string(e))
	}
	return nil
}

func checkEvent(e Event, args []string) error {
	if err := knownEvent(e); err != nil {
		return err
	}
	if want := argCount(e); len(args) != want {
		return fmt.Errorf("%w: %s takes %d arguments, got %d", ErrBadArgs, e, want, len(args))
	}
	return nil
}
