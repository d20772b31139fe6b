"""The provider calls us: delivery receipts and SMS people sent."""
