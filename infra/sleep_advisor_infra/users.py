"""The users the mobile app signs in: the Cognito user pool the API's authorizer trusts."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_cognito as cognito
from constructs import Construct

from sleep_advisor_infra.nag import acknowledge


class AppUsers(Construct):
    """An existing user pool given by ARN, or a new one with a public client for the app.

    Attributes: `user_pool`, `client_id` (None when the pool is imported).
    """

    def __init__(self, scope: Construct, construct_id: str, *, user_pool_arn: str) -> None:
        super().__init__(scope, construct_id)
        self.client_id: str | None = None
        if user_pool_arn:
            self.user_pool: cognito.IUserPool = cognito.UserPool.from_user_pool_arn(
                self, "UserPool", user_pool_arn
            )
            return
        pool = cognito.UserPool(
            self, "UserPool",
            self_sign_up_enabled=True,
            sign_in_aliases=cognito.SignInAliases(email=True),
            auto_verify=cognito.AutoVerifiedAttrs(email=True),
            password_policy=cognito.PasswordPolicy(
                min_length=12, require_digits=True, require_lowercase=True,
                require_uppercase=True, require_symbols=True,
            ),
            mfa=cognito.Mfa.OPTIONAL,
            mfa_second_factor=cognito.MfaSecondFactor(otp=True, sms=False),
            account_recovery=cognito.AccountRecovery.EMAIL_ONLY,
            # Lite has all the app uses (SRP sign-in, TOTP, e-mail recovery); new pools default
            # to Essentials, which bills three times as much per user above the free 10,000.
            feature_plan=cognito.FeaturePlan.LITE,
            # User accounts outlive a stack update gone wrong.
            removal_policy=RemovalPolicy.RETAIN,
        )
        acknowledge(
            pool, "AwsSolutions::AwsSolutions-COG8",
            "The Plus feature plan (threat protection) is billed per monthly active user; at "
            "beta volumes it would exceed the service's whole budget (NFR-2). Enable it with "
            "the user base: throttling on the API and Cognito's own limits protect meanwhile.",
        )
        acknowledge(
            pool, "AwsSolutions::AwsSolutions-COG2",
            "MFA is offered (TOTP) but not required: sleep advice holds no payment or account "
            "data worth the sign-in friction that would lose beta users.",
        )
        client = pool.add_client(
            "MobileApp",
            # A mobile app cannot keep a secret; SRP keeps the password off the wire. The admin
            # flow needs IAM credentials, so only operators can use it (to get test tokens).
            generate_secret=False,
            auth_flows=cognito.AuthFlow(user_srp=True, admin_user_password=True),
            prevent_user_existence_errors=True,
            id_token_validity=Duration.hours(1),
            access_token_validity=Duration.hours(1),
            refresh_token_validity=Duration.days(30),
        )
        self.user_pool = pool
        self.client_id = client.user_pool_client_id
