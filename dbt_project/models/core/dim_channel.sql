-- Channel dimension: the sales channels orders come through and the acquisition channels
-- customers come from (DOMAIN §7: "which channel matters most"). Grain: one row per channel
-- code. The codes are the accepted values of the landing contract; grouping into online /
-- offline and direct / indirect is a project default.

with

channels (channel_code, channel_name, channel_group, is_direct, is_sales_channel,
          is_acquisition_channel) as (

    values
        ('web', 'Web shop', 'online', true, true, true),
        ('phone', 'Telephone sales', 'offline', true, true, false),
        ('field_sales', 'Field sales', 'offline', true, true, true),
        ('partner', 'Partners and resellers', 'offline', false, true, true),
        ('referral', 'Referral by a customer', 'offline', false, false, true),
        ('event', 'Events and trade fairs', 'offline', true, false, true)

),

final as (

    select
        cast({{ surrogate_key(['channel_code']) }} as text) as channel_key,
        cast(channel_code as text) as channel_code,
        cast(channel_name as text) as channel_name,
        cast(channel_group as text) as channel_group,
        cast(is_direct as boolean) as is_direct,
        cast(is_sales_channel as boolean) as is_sales_channel,
        cast(is_acquisition_channel as boolean) as is_acquisition_channel

    from channels

)

select * from final
