package listener

// AppSockets is what an app asks of its listening sockets.
type AppSockets struct {
	// Listen are the --listen values; none means the sockets of socket
	// activation, or else Default.
	Listen  []string
	Default string
	// None: the workers serve no socket (queue consumers, schedulers), so
	// every slot gets the same empty set and LISTEN_FDS=0.
	None bool
	// OnDemand: with nothing to listen on, the workers ask for their
	// sockets as they need them (a Node app's listen(PORT), see OnDemand)
	// and start with none.
	OnDemand bool
	Slots    int
	Options
}

// OpenApp opens the listening sockets of every slot: those of socket
// activation (systemd, or any sd_listen_fds launcher) are served as they
// are, the rest are bound here.
func OpenApp(a AppSockets) (Groups, error) {
	if a.None {
		return make(Groups, a.Slots), nil
	}
	inherited, err := Inherited()
	if err != nil {
		return nil, err
	}
	listen := a.Listen
	if len(listen) == 0 && len(inherited) == 0 {
		if a.OnDemand {
			return make(Groups, a.Slots), nil
		}
		listen = []string{a.Default}
	}
	specs := make([]Spec, len(listen))
	for i, value := range listen {
		if specs[i], err = Parse(value, i); err != nil {
			return nil, err
		}
	}
	return OpenGroupsWith(inherited, specs, a.Slots, a.Options)
}
