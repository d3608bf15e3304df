package rabibridge

// Version is the version of rabibridge for Go, as worker instances report
// it in discovery.
const Version = "0.1.0"
