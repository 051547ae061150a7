"""One ecosystem run: who its members are and what each starts with (members), what a
phase body takes and returns (context), the phase bodies (phases/), and the schedule
that runs them unit by unit and commits what they return (loop)."""
