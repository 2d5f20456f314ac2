//! Integration tests of link emulation over real loopback sockets.

mod accuracy;
mod delay_line;
