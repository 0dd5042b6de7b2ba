package poller

// STUB: constructors for the two engines (implemented in epoll*.go and netpoll*.go).

// NewEpoll returns the native epoll engine.
func NewEpoll(cfg Config) (*Epoll, error) { panic("stub") }

// Epoll is the native engine (epoll_engine.go).
type Epoll struct{ _ [0]func() }

// NewNetpoll returns the cloudwego/netpoll engine.
func NewNetpoll(cfg Config) (*Netpoll, error) { panic("stub") }

// Netpoll is the netpoll engine (netpoll_engine.go).
type Netpoll struct{ _ [0]func() }

// New returns the engine called name ("epoll" or "netpoll").
func New(name string, cfg Config) (Engine, error) { panic("stub") }

// Dial connects to addr (from local address laddr, "" for any) without
// blocking a goroutine per connection and registers the socket with one of
// the engine's loops; h gets OnOpen once connected (used by the bench's
// client workers). Only the epoll engine dials. The engine must have been
// started with Start (dial-only) or Serve.
func (e *Epoll) Dial(addr, laddr string) error { panic("stub") }

// Start runs the loops without a listener (dial-only use).
func (e *Epoll) Start(h Handler) error { panic("stub") }
