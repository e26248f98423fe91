"""The Sleep Advisor CDK app: one stack with the API, the function, monitoring and alerting."""
