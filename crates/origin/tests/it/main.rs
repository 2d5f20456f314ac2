//! Integration tests of the origin server: real listeners on 127.0.0.1:0, real hyper clients
//! (HTTP/1.1 and h2c), assertions on responses and on `/metrics`.

mod admin;
mod catalog;
mod lane;
mod objects;
mod support;
