"""Output adapters for autopilots: NMEA GGA/GST sentences and MAVLink GPS_INPUT (via mavros)."""
