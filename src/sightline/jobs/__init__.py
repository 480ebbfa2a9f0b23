"""Job runners: how services' parallel work is executed."""
