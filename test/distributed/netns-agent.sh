#!/bin/sh
# Open MPI's launch agent for the two-hosts test, in place of ssh: "netns-agent.sh HOST COMMAND..."
# runs COMMAND in the network namespace that plays HOST (10.78.N.2 is the namespace tsrhostN).
host=$1
shift
exec ip netns exec "tsrhost$(echo "$host" | cut -d. -f3)" sh -c "$*"
