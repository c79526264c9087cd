"""What every layer needs and nothing above it: settings, clock, outcome types, client info, token
hashing, throttling, translations and the runtime handed to every service."""
