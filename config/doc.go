// Package config is an app's configuration and the one table that decides
// what a reload may change in a running master. The CLI's flags, the app
// file loader and the master all read it; as its own package it is one
// place to add a field, and a test there fails until the field is sorted
// into the reload table.
package config
