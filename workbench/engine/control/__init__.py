"""What a trainer says and is told: events, commands, the bus that delivers them, the control socket (client and server), and the lines that narrate a run."""
