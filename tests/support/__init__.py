"""What the tests share: the demo data's shape, private databases, dbt and the command line
run as a user runs them, and the built warehouse the serving and churn tests read."""
